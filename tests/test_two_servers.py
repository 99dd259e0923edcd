"""Two gunicorn servers behind one PostgreSQL schema and one Redis, as several app servers
run in production: a visitor's bag, sign-in and sign-out, the sign-in rate limit and a paid
order hold whichever server answers. Real HTTP only (tests.support.live.Browser), no test client.

Needs SHOP_TEST_DATABASE_URL (PostgreSQL: SQLite is one machine's database) and
SHOP_TEST_REDIS_URL; CI's PostgreSQL run sets both.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from shop.orders.models import Order
from shop.payments.models import StripeEvent
from tests.support.catalogue import HAT, KIT
from tests.support.database import PG_URL, fresh_database
from tests.support.fakestripe import FakeStripe, signed_event
from tests.support.live import Browser, add, counters, gunicorn, log_text
from tests.support.pagetext import page_text
from tests.support.shopper import CHECKOUT_FORM

REDIS_URL = os.environ.get("SHOP_TEST_REDIS_URL")

_MISSING = [
    name
    for name, value in (
        ("SHOP_TEST_DATABASE_URL (PostgreSQL: a database the servers share)", PG_URL),
        ("SHOP_TEST_REDIS_URL (the Redis their rate limits share)", REDIS_URL),
    )
    if not value
]
pytestmark = pytest.mark.skipif(
    bool(_MISSING),
    reason=f"two servers need {' and '.join(_MISSING)}; CI's PostgreSQL run sets both",
)

API_KEY = "sk_test_fake_" + "twoservers0key0for0tests"
WEBHOOK_SECRET = "whsec_test_" + "two0servers0signing0secret"
PASSWORD = "correct horse battery staple"


class Servers:
    """Server A and server B, their database and the fake Stripe both use."""

    def __init__(self, a: str, b: str, database_url: str, stripe: FakeStripe, instance: Path):
        self.a, self.b, self.database_url, self.stripe = a, b, database_url, stripe
        self.instance = instance

    def log(self) -> str:
        """What both servers wrote so far."""
        return "\n".join(log_text(self.instance / name) for name in ("a", "b"))

    def orders(self) -> list[tuple[str, str, bool, str | None]]:
        """(reference, status, paid, checkout token) of every order, read from the schema."""
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                return [
                    (order.reference, order.status, order.paid_at is not None, order.checkout_token)
                    for order in session.scalars(select(Order).order_by(Order.id))
                ]
        finally:
            engine.dispose()

    def stripe_events(self) -> list[tuple[str, str]]:
        engine = create_engine(self.database_url)
        try:
            with Session(engine) as session:
                return [(event.id, event.type) for event in session.scalars(select(StripeEvent))]
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory):
    """Two servers of two workers each on one fresh schema, one Redis (a key prefix of this
    run's own) and one fake Stripe."""
    import redis

    instance = tmp_path_factory.mktemp("two-servers")
    prefix = f"shoptest-{uuid.uuid4().hex}"
    env = {
        "SHOP_RATELIMIT_STORAGE_URI": REDIS_URL,
        "SHOP_RATELIMIT_KEY_PREFIX": prefix,
        "SHOP_RATELIMIT_SIGN_IN_EMAIL": "4 per minute",
        # Per client address (all of these tests come from 127.0.0.1): out of the way.
        "SHOP_RATELIMIT_SIGN_IN": "1000 per minute",
        "SHOP_RATELIMIT_REGISTER": "1000 per minute",
        "SHOP_STRIPE_SECRET_KEY": API_KEY,
        "SHOP_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SHOP_STRIPE_TIMEOUT": "5",
    }
    for name in ("a", "b"):
        (instance / name).mkdir()
    with FakeStripe(api_key=API_KEY) as stripe:
        env["SHOP_STRIPE_API_BASE"] = stripe.base_url
        try:
            with (
                fresh_database(instance, "_two_servers") as url,
                gunicorn(url, instance / "a", env=env) as a,
                gunicorn(url, instance / "b", env=env) as b,
            ):
                yield Servers(a, b, url, stripe, instance)
        finally:
            client = redis.Redis.from_url(REDIS_URL)
            keys = list(client.scan_iter(f"*{prefix}*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture(autouse=True)
def no_errors_logged(servers: Servers):
    """Whatever a test checks, neither server may have logged an error meanwhile."""
    yield
    log = servers.log()
    assert "Traceback" not in log, log[-3000:]


def register(browser: Browser, base: str, address: str) -> None:
    browser.get(f"{base}/account/register")
    answer = browser.post(
        f"{base}/account/register",
        {"name": "Ada Lovelace", "email": address, "password": PASSWORD, "confirm": PASSWORD},
    )
    assert answer.status == 303 and answer.location == "/account", answer.text[:500]


def sign_in(browser: Browser, base: str, address: str, password: str = PASSWORD):
    browser.get(f"{base}/account/sign-in")
    return browser.post(f"{base}/account/sign-in", {"email": address, "password": password})


def sign_out(browser: Browser, base: str):
    assert browser.get(f"{base}/account").status == 200
    return browser.post(f"{base}/account/sign-out")


def test_a_bag_filled_on_one_server_is_shown_by_the_other(servers):
    browser = Browser()
    assert browser.get(f"{servers.a}/").status == 200
    assert add(browser, servers.a, HAT, 2).status == 303
    assert add(browser, servers.a, KIT).status == 303

    assert counters(browser, servers.b) == (3, 0)
    page = browser.get(f"{servers.b}/bag")
    assert page.status == 200
    text = page_text(page.text)
    assert "R2 Bucket Hat" in text and "Realtime WebSocket Sync Kit" in text
    quantities = re.findall(r'class="quantity-input"[^>]*?value="(\d+)"', page.text, re.S)
    assert sorted(quantities) == ["1", "2"]

    # And back: a change made on B shows on A.
    assert browser.post(f"{servers.b}/wishlist/toggle", {"offer": KIT, "saved": "1"}).status == 303
    assert counters(browser, servers.a) == (3, 1)


def test_a_sign_in_on_one_server_holds_on_the_other_until_signed_out_there(servers):
    address = f"ada-{uuid.uuid4().hex[:10]}@example.com"
    browser = Browser()
    register(browser, servers.a, address)
    answer = browser.get(f"{servers.b}/account")
    assert answer.status == 200 and address in answer.text
    assert sign_out(browser, servers.b).status == 303

    # Signing in (not only registering) on A counts on B too.
    answer = sign_in(browser, servers.a, address)
    assert answer.status == 303 and answer.location == "/account"
    signed_in_cookie = browser.cookie
    answer = browser.get(f"{servers.b}/account")
    assert answer.status == 200 and address in answer.text

    answer = sign_out(browser, servers.b)
    assert answer.status == 303 and answer.location == "/"
    # A no longer knows the session: neither with the browser's new cookie nor the old one.
    for cookie in (browser.cookie, signed_in_cookie):
        answer = Browser(cookie).get(f"{servers.a}/account")
        assert answer.status == 303
        assert urlsplit(answer.location).path == "/account/sign-in"


def test_sign_in_attempts_on_both_servers_count_against_one_limit(servers):
    address = f"ada-{uuid.uuid4().hex[:10]}@example.com"
    browser = Browser()
    register(browser, servers.a, address)
    assert sign_out(browser, servers.a).status == 303

    statuses = []
    for attempt in range(6):
        base = (servers.a, servers.b)[attempt % 2]
        answer = sign_in(Browser(), base, address, "wrong password, long")
        statuses.append(answer.status)
        if attempt == 4:
            fifth = answer
    assert statuses == [400] * 4 + [429] * 2
    assert 0 < int(fifth.header("Retry-After")) <= 60
    assert "Too many attempts" in page_text(fifth.text)
    # The right password does not get past the limit either, on either server.
    assert sign_in(Browser(), servers.a, address).status == 429


def test_an_order_placed_on_one_server_is_paid_by_a_webhook_to_the_other(servers):
    browser = Browser()
    browser.get(f"{servers.a}/")
    assert add(browser, servers.a, HAT).status == 303
    page = browser.get(f"{servers.a}/checkout")
    assert page.status == 200
    hidden = {
        name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', page.text)[1]
        for name in ("checkout_token", "bag_fingerprint")
    }
    answer = browser.post(f"{servers.a}/checkout", {**CHECKOUT_FORM, **hidden})
    assert answer.status == 303, page_text(answer.text)[:500]
    assert answer.location.startswith(f"{servers.stripe.base_url}/c/pay/")
    session_id = answer.location.rsplit("/", 1)[1]
    [(reference, status, _, token)] = servers.orders()
    assert status == "pending_payment" and token == hidden["checkout_token"]

    # The buyer pays on (fake) Stripe and never comes back; Stripe tells server B.
    servers.stripe.mark_paid(session_id)
    payload, headers = signed_event(
        "checkout.session.completed", servers.stripe.session(session_id), WEBHOOK_SECRET
    )
    delivered = Browser().request(
        "POST", f"{servers.b}/stripe/webhook", body=payload, headers=headers
    )
    assert delivered.status == 200 and delivered.text.strip() == "OK."
    # The same event delivered to A as well (Stripe retries, a balancer): handled once.
    again = Browser().request("POST", f"{servers.a}/stripe/webhook", body=payload, headers=headers)
    assert again.status == 200 and again.text.strip() == "Already handled."

    # The buyer's browser on A sees it paid.
    answer = browser.get(f"{servers.a}/checkout/success?session_id={session_id}")
    assert answer.status == 303 and answer.location.startswith(f"/orders/{reference}")
    order_page = page_text(browser.get(f"{servers.a}{answer.location}").text)
    assert "Status: Paid" in order_page

    assert [(ref, status, paid) for ref, status, paid, _ in servers.orders()] == [
        (reference, "paid", True)
    ]
    assert [kind for _, kind in servers.stripe_events()] == ["checkout.session.completed"]
