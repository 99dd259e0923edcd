"""Stripe Checkout: starting a session, the webhook, the success and cancel pages, Pay now.

Real HTTP all the way: the shop's real stripe library talks to a local fake Stripe
(tests/support/fakestripe.py) on a free port, and webhook deliveries are signed as Stripe
signs them.
Orders are inserted directly (``make_order``), as the checkout would leave them.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import stripe
from flask import Flask
from sqlalchemy import func, select, update

from shop.bag.models import BagLine
from shop.catalog.models import Offer
from shop.checkout.models import DraftField
from shop.extensions import db
from shop.orders import services as orders
from shop.orders.models import Order
from shop.payments import services as payments
from shop.payments.models import StripeEvent
from shop.sessions import session_key
from tests.support.fakestripe import FakeStripe, signed_event, unflatten
from tests.support.mailbox import outbox
from tests.support.orders import add_order
from tests.support.shopper import Shopper

API_KEY = "sk_test_fake_" + "4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK_SECRET = "whsec_test_" + "fake0signing0secret0for0tests"
COOKIE = "shop_session"
COMPLETED = "checkout.session.completed"
EXPIRED = "checkout.session.expired"
LINES = (("Review of an R2 setup", 450_000, 1), ("Workers audit", 12_550, 2))


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def fake() -> FakeStripe:
    with FakeStripe(api_key=API_KEY) as server:
        yield server


@pytest.fixture
def app(app: Flask, fake: FakeStripe) -> Flask:
    """The suite's app, with Stripe configured against the fake."""
    app.config.update(
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake.base_url,
        STRIPE_TIMEOUT=2,
    )
    return app


def visitor_key(client) -> str:
    """The owner id of the client's visit, stored as a visit that places an order is (a
    session id that was never stored is never adopted: shop/sessions.py)."""
    Shopper(client).wish("r2-bucket-hat", False, htmx=True)  # stores the session, no message
    return session_key(client.get_cookie(COOKIE).value)


def make_order(
    app: Flask,
    owner_id: str = "someone-else",
    *,
    owner_type: str = "session",
    status: str = "pending_payment",
    lines=LINES,
) -> str:
    """An order as the checkout leaves it for Stripe, waiting for its payment; its buyer's
    address is ``<reference>@example.com`` (tests.support.orders)."""
    return add_order(app, owner_id=owner_id, owner_type=owner_type, status=status, lines=lines)


def state(app: Flask, reference: str) -> dict:
    """What the database holds about the order now."""
    with app.app_context():
        order = orders.get_order(reference)
        return {
            "status": order.status,
            "session": order.stripe_session_id,
            "attempt": order.payment_attempt,
            "paid_at": order.paid_at,
            "id": order.id,
        }


def start(app: Flask, reference: str) -> str:
    """``start_checkout`` as a view calls it; returns the Checkout URL."""
    with app.test_request_context("/"):
        return payments.start_checkout(orders.get_order(reference))


def fill_bag_and_draft(app: Flask, owner_id: str) -> None:
    with app.app_context():
        offer = db.session.scalars(select(Offer).order_by(Offer.id)).first()
        moment = datetime.now(UTC)
        db.session.add(
            BagLine(
                owner_type="session",
                owner_id=owner_id,
                offer_id=offer.id,
                quantity=2,
                unit_price_cents=offer.price_cents,
                currency=offer.currency,
                added_at=moment,
                updated_at=moment,
            )
        )
        db.session.add(
            DraftField(
                owner_type="session",
                owner_id=owner_id,
                field="notes",
                value="We run on Workers already.",
                updated_at=moment,
            )
        )
        db.session.commit()


def bag_and_draft(app: Flask, owner_id: str) -> tuple[int, int]:
    with app.app_context():
        bag = db.session.scalar(select(func.count()).where(BagLine.owner_id == owner_id))
        draft = db.session.scalar(select(func.count()).where(DraftField.owner_id == owner_id))
        return bag, draft


def events(app: Flask) -> list[tuple[str, str, int | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(StripeEvent.id, StripeEvent.type, StripeEvent.order_id).order_by(
                StripeEvent.received_at
            )
        )
        return [tuple(row) for row in rows]


def deliver(client, payload: bytes, headers: dict[str, str]):
    return client.post("/stripe/webhook", data=payload, headers=headers)


def buyer_mails(app: Flask, reference: str) -> int:
    """How many mails went to the order's buyer (the outbox, once background sends end)."""
    address = f"{reference.lower()}@example.com"
    return sum(message["To"] == address for message in outbox(app))


def flashes(client) -> list[tuple[str, str]]:
    with client.session_transaction() as session:
        # Stored as JSON in the session table: pairs come back as lists.
        return [tuple(pair) for pair in session.get("_flashes", [])]


def race(app: Flask, calls, clients=None) -> list[int]:
    """Run each call with its own test client, from threads released at the same moment."""
    clients = clients or [app.test_client() for _ in calls]
    barrier = threading.Barrier(len(calls))
    statuses: list[int | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            statuses[index] = calls[index](clients[index]).status_code
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    return statuses


def order_url(app: Flask, reference: str) -> str:
    with app.test_request_context("/"):
        return orders.order_url(orders.get_order(reference))


# ---------------------------------------------------------------- the fake itself


def test_unflatten_reads_stripes_nested_form_keys():
    pairs = [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][quantity]", "1"),
        ("line_items[1][quantity]", "2"),
        ("metadata[order_id]", "7"),
    ]
    assert unflatten(pairs) == {
        "mode": "payment",
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"order_id": "7"},
    }


# ---------------------------------------------------------------- starting Checkout


def test_start_checkout_sends_the_order_and_stores_the_session(app, fake):
    reference = make_order(app)
    order_id = state(app, reference)["id"]

    url = start(app, reference)

    [sent] = fake.created()
    assert sent.header("Idempotency-Key") == f"checkout-{reference}-0"
    assert sent.header("Authorization") == f"Bearer {API_KEY}"
    params = sent.params
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "450000",
                "product_data": {"name": "Review of an R2 setup"},
            },
            "quantity": "1",
        },
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": "12550",
                "product_data": {"name": "Workers audit"},
            },
            "quantity": "2",
        },
    ]
    assert params["client_reference_id"] == reference
    assert params["metadata"] == {"order_reference": reference, "order_id": str(order_id)}
    assert params["customer_email"] == f"{reference.lower()}@example.com"
    # The placeholder travels unescaped, for Stripe to fill in.
    assert (
        params["success_url"]
        == "http://localhost/checkout/success?session_id={CHECKOUT_SESSION_ID}"
    )
    cancel = urlsplit(params["cancel_url"])
    assert (cancel.scheme, cancel.netloc, cancel.path) == ("http", "localhost", "/checkout/cancel")
    with app.app_context():
        key = orders.access_key(reference)
    assert parse_qs(cancel.query) == {"order": [reference], "key": [key]}

    stored = state(app, reference)
    session = fake.session(stored["session"])
    assert stored["session"].startswith("cs_test_")
    assert stored["status"] == "pending_payment"
    assert url == session["url"] and url.startswith(fake.base_url)
    assert session["amount_total"] == 450_000 + 2 * 12_550


def test_an_open_session_is_reused(app, fake):
    reference = make_order(app)
    first = start(app, reference)
    again = start(app, reference)
    assert again == first
    assert len(fake.created()) == 1  # the second call only read the session
    assert [r.method for r in fake.requests] == ["POST", "GET"]


def test_the_same_idempotency_key_gives_the_same_session(app, fake):
    reference = make_order(app)
    start(app, reference)
    stored = state(app, reference)["session"]
    params = fake.created()[0].params
    with app.app_context():
        replayed = payments.client().v1.checkout.sessions.create(
            params=params, options={"idempotency_key": f"checkout-{reference}-0"}
        )
    assert replayed.id == stored
    assert len(fake.sessions) == 1


def test_passing_server_errors_are_retried_with_the_same_key(app, fake):
    reference = make_order(app)
    fake.fail_next(2)
    url = start(app, reference)
    sent = fake.created()
    assert len(sent) == 3  # two 500s, then the answer
    assert {r.header("Idempotency-Key") for r in sent} == {f"checkout-{reference}-0"}
    assert len(fake.sessions) == 1
    assert url == fake.session(state(app, reference)["session"])["url"]


def test_an_expired_session_gives_way_to_a_new_attempt(app, fake):
    reference = make_order(app)
    start(app, reference)
    old = state(app, reference)["session"]
    fake.mark_expired(old)

    url = start(app, reference)

    now = state(app, reference)
    assert now["session"] != old and now["attempt"] == 1
    assert fake.created()[-1].header("Idempotency-Key") == f"checkout-{reference}-1"
    assert url == fake.session(now["session"])["url"]


def test_a_session_stripe_does_not_know_gives_way_to_a_new_attempt(app, fake):
    # As after switching Stripe accounts or from test to live keys.
    reference = make_order(app)
    with app.app_context():
        db.session.execute(
            update(Order)
            .where(Order.reference == reference)
            .values(stripe_session_id="cs_test_from_another_account")
        )
        db.session.commit()

    url = start(app, reference)

    now = state(app, reference)
    assert now["session"] != "cs_test_from_another_account" and now["attempt"] == 1
    assert url == fake.session(now["session"])["url"]


def test_a_completed_session_is_not_paid_twice(app, fake):
    reference = make_order(app)
    start(app, reference)
    session_id = state(app, reference)["session"]
    fake.mark_paid(session_id)  # paid, but the shop has not heard yet

    target = start(app, reference)

    assert target == f"http://localhost/checkout/success?session_id={session_id}"
    assert len(fake.created()) == 1


@pytest.mark.parametrize("status", ["paid", "expired", "submitted"])
def test_only_pending_orders_start_checkout(app, fake, status):
    reference = make_order(app, status=status)
    with pytest.raises(ValueError):
        start(app, reference)
    assert fake.requests == []


def test_stripe_unreachable_keeps_the_order_then_pay_now_works(app, fake, caplog):
    client = app.test_client()
    reference = make_order(app, visitor_key(client))
    fake.go_offline()

    with pytest.raises(payments.PaymentUnavailable) as raised:
        start(app, reference)
    assert "could not be reached" in raised.value.message
    assert state(app, reference) | {"id": None} == {
        "status": "pending_payment",
        "session": None,
        "attempt": 0,
        "paid_at": None,
        "id": None,
    }
    assert API_KEY not in caplog.text

    # Pay now while Stripe is still away: back to the order page, with the reason.
    shopper = Shopper(client)
    answer = shopper.post(f"/orders/{reference}/pay", {})
    assert answer.status_code == 303
    assert answer.headers["Location"] == order_url(app, reference)
    assert ("error", payments.PaymentUnavailable.message) in flashes(client)

    fake.come_back()
    answer = shopper.post(f"/orders/{reference}/pay", {})
    assert answer.status_code == 303
    session_id = state(app, reference)["session"]
    assert answer.headers["Location"] == fake.session(session_id)["url"]

    # With htmx the browser is told where to go.
    answer = shopper.post(f"/orders/{reference}/pay", {}, htmx=True)
    assert answer.status_code == 204
    assert answer.headers["HX-Redirect"] == fake.session(session_id)["url"]


def test_a_slow_stripe_times_out_into_payment_unavailable(app, fake):
    app.config["STRIPE_TIMEOUT"] = 0.3
    reference = make_order(app)
    fake.slow_next(3, 1.5)
    began = time.monotonic()
    with pytest.raises(payments.PaymentUnavailable):
        start(app, reference)
    assert time.monotonic() - began < 5
    assert len(fake.created()) == 3  # the first try and two retries
    assert state(app, reference)["session"] is None


def test_pay_now_is_for_the_orders_owner_and_pending_orders_only(app, fake):
    client = app.test_client()
    shopper = Shopper(client)
    strangers = make_order(app)
    assert shopper.post(f"/orders/{strangers}/pay", {}).status_code == 404
    assert shopper.post("/orders/EG-0000-0000/pay", {}).status_code == 404
    assert fake.requests == []

    # The order's link (its key) opens it to whoever holds it.
    with app.app_context():
        key = orders.access_key(strangers)
    answer = shopper.post(f"/orders/{strangers}/pay", {"key": key})
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(fake.base_url)

    paid = make_order(app, visitor_key(client), status="paid")
    answer = shopper.post(f"/orders/{paid}/pay", {})
    assert answer.status_code == 409
    assert "not waiting for payment" in answer.get_data(as_text=True)


def test_pay_now_needs_the_csrf_token(app, fake):
    client = app.test_client()
    reference = make_order(app, visitor_key(client))
    answer = Shopper(client).post(f"/orders/{reference}/pay", {}, csrf=False)
    assert answer.status_code == 400
    assert fake.requests == []


# ---------------------------------------------------------------- the webhook


def paid_session(app, fake, reference: str) -> str:
    start(app, reference)
    session_id = state(app, reference)["session"]
    fake.mark_paid(session_id)
    return session_id


def test_a_signed_completed_event_marks_the_order_paid(app, fake):
    owner = "visit-" + secrets.token_hex(8)
    reference = make_order(app, owner)
    fill_bag_and_draft(app, owner)
    other = "visit-" + secrets.token_hex(8)
    fill_bag_and_draft(app, other)
    session_id = paid_session(app, fake, reference)
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET, event_id="evt_paid_1")

    answer = deliver(app.test_client(), payload, headers)

    assert answer.status_code == 200
    now = state(app, reference)
    assert now["status"] == "paid" and now["paid_at"] is not None
    assert bag_and_draft(app, owner) == (0, 0)
    assert bag_and_draft(app, other) == (1, 1)  # nobody else's
    assert events(app) == [("evt_paid_1", COMPLETED, now["id"])]
    assert buyer_mails(app, reference) == 1

    # Delivered again: answered, nothing changes twice.
    again = deliver(app.test_client(), payload, headers)
    assert again.status_code == 200
    assert "already handled" in again.get_data(as_text=True).lower()
    assert state(app, reference)["paid_at"] == now["paid_at"]
    assert len(events(app)) == 1
    assert buyer_mails(app, reference) == 1


def test_the_webhook_asks_stripe_rather_than_trusting_the_event(app, fake):
    reference = make_order(app)
    start(app, reference)
    session_id = state(app, reference)["session"]
    # A delayed payment method: completed, but the money has not arrived yet.
    fake.mark_paid(session_id, payment_status="unpaid")
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "pending_payment"

    fake.mark_paid(session_id)
    payload, headers = fake.event(
        "checkout.session.async_payment_succeeded", session_id, WEBHOOK_SECRET
    )
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "paid"
    assert len(events(app)) == 2


def test_a_failed_async_payment_is_recorded_only(app, fake):
    reference = make_order(app)
    start(app, reference)
    session_id = state(app, reference)["session"]
    payload, headers = fake.event(
        "checkout.session.async_payment_failed", session_id, WEBHOOK_SECRET, event_id="evt_f"
    )
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "pending_payment"
    assert events(app) == [
        ("evt_f", "checkout.session.async_payment_failed", state(app, reference)["id"])
    ]


def test_an_expired_session_expires_its_pending_order(app, fake):
    reference = make_order(app)
    start(app, reference)
    session_id = state(app, reference)["session"]
    fake.mark_expired(session_id)
    payload, headers = fake.event(EXPIRED, session_id, WEBHOOK_SECRET)
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "expired"


def test_expired_after_completed_leaves_the_order_paid(app, fake):
    reference = make_order(app)
    session_id = paid_session(app, fake, reference)
    paid = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    expired = signed_event(
        EXPIRED, fake.session(session_id) | {"status": "expired"}, WEBHOOK_SECRET
    )
    client = app.test_client()
    assert deliver(client, *paid).status_code == 200
    assert deliver(client, *expired).status_code == 200
    assert state(app, reference)["status"] == "paid"
    assert len(events(app)) == 2


def test_a_payment_after_the_order_expired_still_counts(app, fake):
    reference = make_order(app)
    session_id = paid_session(app, fake, reference)
    with app.app_context():
        db.session.execute(
            update(Order).where(Order.reference == reference).values(status="expired")
        )
        db.session.commit()
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "paid"


def test_a_session_naming_another_order_is_not_fulfilled(app, fake):
    reference = make_order(app)
    start(app, reference)
    session_id = state(app, reference)["session"]
    fake.mark_paid(session_id)
    fake.sessions[session_id]["client_reference_id"] = "EG-ZZZZ-ZZZZ"
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "pending_payment"


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong secret",
        "old timestamp",
        "changed body",
        "no signature",
        "garbage signature",
    ],
)
def test_a_badly_signed_event_changes_nothing(app, fake, tamper):
    reference = make_order(app)
    session_id = paid_session(app, fake, reference)
    secret = "whsec_not_the_right_one" if tamper == "wrong secret" else WEBHOOK_SECRET
    # Stripe's tolerance is 300 seconds.
    timestamp = int(time.time()) - 301 if tamper == "old timestamp" else None
    payload, headers = fake.event(COMPLETED, session_id, secret, timestamp=timestamp)
    if tamper == "changed body":
        payload = payload.replace(b'"livemode": false', b'"livemode": true ')
    if tamper == "no signature":
        del headers["Stripe-Signature"]
    if tamper == "garbage signature":
        headers["Stripe-Signature"] = "nonsense"

    answer = deliver(app.test_client(), payload, headers)

    assert answer.status_code == 400
    assert answer.mimetype == "text/plain"
    assert state(app, reference)["status"] == "pending_payment"
    assert events(app) == []
    assert sum(r.method == "GET" for r in fake.requests) == 0  # Stripe was not even asked


def test_a_signed_but_malformed_payload_is_refused(app, fake):
    for body in ("not json at all", '{"object": "v2.core.event"}', '"a string"'):
        header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
        answer = deliver(app.test_client(), body.encode(), {"Stripe-Signature": header})
        assert answer.status_code == 400, body
    assert events(app) == []


def test_unknown_event_types_are_acknowledged_and_ignored(app, fake):
    payload, headers = signed_event(
        "customer.created", {"id": "cus_123", "object": "customer"}, WEBHOOK_SECRET
    )
    answer = deliver(app.test_client(), payload, headers)
    assert answer.status_code == 200
    assert events(app) == []  # nothing was done, so nothing is recorded


def test_stripe_unreachable_during_the_webhook_asks_for_a_retry(app, fake):
    reference = make_order(app)
    session_id = paid_session(app, fake, reference)
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    fake.go_offline()
    answer = deliver(app.test_client(), payload, headers)
    assert answer.status_code == 503
    assert events(app) == []
    assert state(app, reference)["status"] == "pending_payment"

    fake.come_back()
    assert deliver(app.test_client(), payload, headers).status_code == 200
    assert state(app, reference)["status"] == "paid"
    assert len(events(app)) == 1


def test_the_webhook_is_absent_without_stripe(app, fake):
    app.config["STRIPE_SECRET_KEY"] = None
    payload, headers = signed_event(COMPLETED, {"id": "cs_test_x"}, WEBHOOK_SECRET)
    assert deliver(app.test_client(), payload, headers).status_code == 404


def test_two_deliveries_of_one_event_at_once_both_succeed(app, fake):
    reference = make_order(app)
    session_id = paid_session(app, fake, reference)
    payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
    statuses = race(app, [lambda c: deliver(c, payload, headers)] * 2)
    assert statuses == [200, 200]
    assert len(events(app)) == 1
    assert state(app, reference)["status"] == "paid"
    assert buyer_mails(app, reference) == 1


# ---------------------------------------------------------------- success and cancel pages


def test_webhook_and_success_page_at_once_pay_once(app, fake, monkeypatch):
    """The buyer's browser and Stripe's webhook arrive together, round after round: both
    reach mark_paid, one of them changes the order, and its buyer gets one mail."""
    results: list[bool] = []
    lock = threading.Lock()
    real_mark_paid = orders.mark_paid

    def mark_paid(order_id: int) -> bool:
        changed = real_mark_paid(order_id)
        with lock:
            results.append(changed)
        return changed

    monkeypatch.setattr(orders, "mark_paid", mark_paid)
    raced = 0
    for _ in range(5):
        results.clear()
        buyer = app.test_client()
        reference = make_order(app, visitor_key(buyer))
        session_id = paid_session(app, fake, reference)
        payload, headers = fake.event(COMPLETED, session_id, WEBHOOK_SECRET)
        statuses = race(
            app,
            [
                lambda c, s=session_id: c.get(f"/checkout/success?session_id={s}"),
                lambda c, p=payload, h=headers: deliver(c, p, h),
            ],
            clients=[buyer, app.test_client()],
        )
        assert statuses == [303, 200]
        # Both asked Stripe before either had marked the order paid, or the later one saw it
        # paid and had nothing to do: never two changes.
        assert results.count(True) == 1
        raced += len(results) == 2
        assert state(app, reference)["status"] == "paid"
        assert buyer_mails(app, reference) == 1
    assert raced, "the two never reached mark_paid together: the test did not race"


def test_the_success_page_fulfils_and_shows_the_order(app, fake):
    client = app.test_client()
    owner = visitor_key(client)
    reference = make_order(app, owner)
    fill_bag_and_draft(app, owner)
    session_id = paid_session(app, fake, reference)

    answer = client.get(f"/checkout/success?session_id={session_id}")

    assert answer.status_code == 303
    assert answer.headers["Location"] == order_url(app, reference)
    assert ("success", "Payment received.") in flashes(client)
    assert state(app, reference)["status"] == "paid"
    assert bag_and_draft(app, owner) == (0, 0)
    page = client.get(answer.headers["Location"])
    assert page.status_code == 200
    assert "Payment received." in page.get_data(as_text=True)

    # Reloaded: the same answer, without asking Stripe again.
    asked = len(fake.requests)
    again = client.get(f"/checkout/success?session_id={session_id}")
    assert again.status_code == 303
    assert ("success", "Payment received.") in flashes(client)
    assert len(fake.requests) == asked


def test_the_success_page_before_the_money_arrives(app, fake):
    client = app.test_client()
    reference = make_order(app, visitor_key(client))
    start(app, reference)
    session_id = state(app, reference)["session"]
    fake.mark_paid(session_id, payment_status="unpaid")

    answer = client.get(f"/checkout/success?session_id={session_id}")

    assert answer.status_code == 303
    assert answer.headers["Location"] == order_url(app, reference)
    [(category, message)] = flashes(client)
    assert message.startswith("Your payment is being processed")
    assert state(app, reference)["status"] == "pending_payment"


def test_the_success_page_while_stripe_is_unreachable(app, fake):
    client = app.test_client()
    reference = make_order(app, visitor_key(client))
    session_id = paid_session(app, fake, reference)
    fake.go_offline()

    answer = client.get(f"/checkout/success?session_id={session_id}")

    assert answer.status_code == 303
    assert answer.headers["Location"] == order_url(app, reference)
    [(_, message)] = flashes(client)
    assert "once Stripe confirms it" in message
    assert state(app, reference)["status"] == "pending_payment"


def test_the_success_page_of_another_visitors_order_is_404(app, fake):
    reference = make_order(app)  # someone else's visit
    session_id = paid_session(app, fake, reference)
    requests_before = len(fake.requests)
    client = app.test_client()
    client.get("/")

    assert client.get(f"/checkout/success?session_id={session_id}").status_code == 404
    assert client.get("/checkout/success?session_id=cs_test_nope").status_code == 404
    assert client.get("/checkout/success").status_code == 404
    assert client.get("/checkout/success?session_id=" + "x" * 300).status_code == 404
    assert state(app, reference)["status"] == "pending_payment"
    assert len(fake.requests) == requests_before  # nothing asked of Stripe


def test_cancel_keeps_the_order_the_bag_and_the_draft(app, fake):
    client = app.test_client()
    owner = visitor_key(client)
    reference = make_order(app, owner)
    fill_bag_and_draft(app, owner)
    start(app, reference)
    before = state(app, reference)
    with app.app_context():
        key = orders.access_key(reference)

    answer = client.get(f"/checkout/cancel?order={reference}&key={key}")

    assert answer.status_code == 303
    assert urlsplit(answer.headers["Location"]).path == "/checkout"
    assert flashes(client) == [
        (
            "info",
            f"Payment cancelled. Your order {reference} is saved and waits for payment; "
            "your bag and details are kept.",
        )
    ]
    assert state(app, reference) == before
    assert bag_and_draft(app, owner) == (1, 1)


def test_cancel_names_no_order_the_visitor_may_not_see(app, fake):
    reference = make_order(app)
    client = app.test_client()
    answer = client.get(f"/checkout/cancel?order={reference}&key=wrong")
    assert answer.status_code == 303
    [(_, message)] = flashes(client)
    assert reference not in message
