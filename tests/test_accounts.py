"""Accounts: register, sign in and out, the merge of the visit's bag, session ids, password
changes and resets, rate limits, administrators. Through the test client, on the suite's
database; mail goes to the outbox or to a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from shop import mail
from shop.accounts import services
from shop.accounts.models import User
from shop.bag.models import BagLine, WishlistItem
from shop.clock import now
from shop.extensions import db
from shop.sessions import JOIN_WINDOW, SessionRecord, session_key
from tests.support.accounts import (
    NEW_PASSWORD,
    PASSWORD,
    ask_reset,
    new_customer,
    post,
    register,
    reset_link,
    sign_in,
    sign_out,
    signed_in,
)
from tests.support.catalogue import DENIM, HAT, KIT
from tests.support.forms import csrf_token_of
from tests.support.live import free_port
from tests.support.mailbox import outbox
from tests.support.pagetext import page_text
from tests.support.shopper import Shopper

COOKIE = "shop_session"


# ---------------------------------------------------------------- helpers


def sid(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def with_sid(app, value: str):
    """A second browser that holds the cookie ``value``."""
    other = app.test_client()
    other.set_cookie(COOKIE, value)
    return other


def user_of(app, address: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == address.strip().lower()))
        if user is not None:
            db.session.expunge(user)
        db.session.rollback()
        return user


def session_rows(app, user_id: int) -> int:
    with app.app_context():
        count = db.session.scalar(
            select(func.count()).select_from(SessionRecord).where(SessionRecord.user_id == user_id)
        )
        db.session.rollback()
        return count


@pytest.fixture
def customer(app):
    """A registered customer, signed out: (email, user id)."""
    address = new_customer(app)
    return address, user_of(app, address).id


# ---------------------------------------------------------------- register


def test_register_creates_a_signed_in_customer(app, client):
    response = register(client, "  Ada.Lovelace@Example.COM ")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    user = user_of(app, "ada.lovelace@example.com")
    assert user.name == "Ada Lovelace" and not user.is_admin
    assert user.password_hash.startswith("scrypt:") and PASSWORD not in user.password_hash
    page = client.get("/account").get_data(as_text=True)
    assert "ada.lovelace@example.com" in page and "Ada Lovelace" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Enter your name."),
        ({"email": "not-an-email"}, "Enter an email address like name@example.com."),
        ({"email": ""}, "Enter your email address."),
        ({"password": "short one", "confirm": "short one"}, "Use at least 10 characters."),
        ({"password": "Password123", "confirm": "Password123"}, "most common"),
        ({"password": "qwertyuiop", "confirm": "qwertyuiop"}, "most common"),
        ({"password": "password1234", "confirm": "password1234"}, "most common"),
        ({"password": "Dragon!!2024", "confirm": "Dragon!!2024"}, "most common"),
        ({"password": "1234567890!", "confirm": "1234567890!"}, "most common"),
        ({"password": "abababababab", "confirm": "abababababab"}, "more different characters"),
        ({"confirm": "something else entirely"}, "The two passwords are not the same."),
        ({"password": "x" * 201, "confirm": "x" * 201}, "Use at most 200 characters."),
        ({"name": "n" * 101}, "Use at most 100 characters."),
    ],
)
def test_register_refuses_bad_input_and_keeps_what_was_typed(app, client, fields, message):
    data = {"name": "Grace Hopper", "email": "grace@example.com", "password": PASSWORD}
    data["confirm"] = PASSWORD
    data.update(fields)
    response = post(client, "/account/register", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in page_text(html)
    assert 'role="alert"' in html and 'aria-invalid="true"' in html
    if "name" not in fields:
        assert 'value="Grace Hopper"' in html
    if "email" not in fields:
        assert 'value="grace@example.com"' in html
    for secret in {data["password"], data["confirm"]}:
        assert f'value="{secret}"' not in html
    assert user_of(app, "grace@example.com") is None


def test_an_address_registers_once_whatever_its_case(app, client, customer):
    address, _ = customer
    response = register(client, "  " + address.upper() + " ", name="Someone Else")
    assert response.status_code == 400
    assert "already exists" in page_text(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


# ---------------------------------------------------------------- sign in and out


def test_sign_in_and_out(app, client, customer):
    address, user_id = customer
    response = sign_in(client, address.upper())
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert signed_in(client)
    assert session_rows(app, user_id) == 1
    old = sid(client)
    response = sign_out(client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert not signed_in(client)
    assert session_rows(app, user_id) == 0  # the row is gone, not just emptied
    assert not signed_in(with_sid(app, old))


@pytest.mark.parametrize(
    ("address", "password"),
    [("known", "wrong password, long"), ("nobody@example.com", PASSWORD)],
)
def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    app, client, customer, address, password
):
    address = customer[0] if address == "known" else address
    response = sign_in(client, address, password)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "That email and password do not match an account." in page_text(html)
    assert f'value="{address}"' in html and password not in html
    assert not signed_in(client)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "no-at-sign", "password": PASSWORD}, "Enter an email address like"),
        ({"email": "", "password": PASSWORD}, "Enter your email address."),
        ({"email": "a@example.com", "password": ""}, "Enter your password."),
    ],
)
def test_sign_in_refuses_malformed_input(client, data, message):
    response = post(client, "/account/sign-in", data)
    assert response.status_code == 400
    assert message in page_text(response.get_data(as_text=True))


def test_sign_in_without_csrf_token_does_nothing_and_keeps_the_form(client, customer):
    response = post(
        client, "/account/sign-in", {"email": customer[0], "password": PASSWORD}, token=""
    )
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "This form had expired" in page_text(html)
    assert f'value="{customer[0]}"' in html and PASSWORD not in html
    assert not signed_in(client)


def test_sign_in_issues_a_new_session_id(app, client, customer):
    shopper = Shopper(client)
    shopper.add(HAT)
    planted = sid(client)
    assert sign_in(client, customer[0]).status_code == 303
    assert sid(client) != planted
    # The planted id is worth nothing now: its row keeps nothing but the CSRF secret of the
    # visitor's page, for seconds (a double submit's second click), and it is not signed in.
    with app.app_context():
        row = db.session.get(SessionRecord, session_key(planted))
        assert row is None or (
            set(json.loads(row.data)) <= {"csrf_token"}
            and row.user_id is None
            and row.expires_at.replace(tzinfo=UTC) <= now() + JOIN_WINDOW
        )
        db.session.rollback()
    assert not signed_in(with_sid(app, planted))
    assert Shopper(with_sid(app, planted)).counters() == (0, 0)


@pytest.mark.parametrize(
    ("next_value", "expected"),
    [
        ("/bag", "/bag"),
        ("/offers?tag=R2", "/offers?tag=R2"),
        ("//evil.example", "/account"),
        ("https://evil.example", "/account"),
        ("javascript:alert(1)", "/account"),
        ("/\\evil.example", "/account"),
        ("", "/account"),
    ],
)
def test_next_only_goes_to_a_path_of_this_shop(client, customer, next_value, expected):
    response = sign_in(client, customer[0], next=next_value)
    assert response.status_code == 303
    assert response.headers["Location"] == expected


def test_a_page_that_needs_an_account_asks_to_sign_in_and_comes_back(client, customer):
    response = client.get("/account")
    assert response.status_code == 303
    assert response.headers["Location"] == "/account/sign-in?next=/account"
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" type="hidden" value="/account"' in form
    assert sign_in(client, customer[0], next="/account").headers["Location"] == "/account"


def test_keep_me_signed_in_decides_whether_the_cookie_outlives_the_browser(client, customer):
    def cookie_header(response) -> SimpleCookie:
        jar = SimpleCookie()
        for header in response.headers.getlist("Set-Cookie"):
            jar.load(header)
        return jar

    response = sign_in(client, customer[0])
    assert not cookie_header(response)[COOKIE]["expires"]
    sign_out(client)
    response = sign_in(client, customer[0], remember="y")
    assert cookie_header(response)[COOKIE]["expires"]


# ---------------------------------------------------------------- the merge


def _bag(app, user_id: int) -> dict[int, int]:
    with app.app_context():
        rows = db.session.execute(
            select(BagLine.offer_id, BagLine.quantity).where(
                BagLine.owner_type == "user", BagLine.owner_id == str(user_id)
            )
        ).all()
        db.session.rollback()
        return dict(rows)


def _wishes(app, user_id: int) -> set[int]:
    with app.app_context():
        rows = db.session.scalars(
            select(WishlistItem.offer_id).where(
                WishlistItem.owner_type == "user", WishlistItem.owner_id == str(user_id)
            )
        ).all()
        db.session.rollback()
        return set(rows)


def test_sign_in_joins_the_visits_bag_and_wishlist(app, client, customer):
    address, user_id = customer
    # The customer's own bag, from another device: 8 hats, a wish for the kit.
    device = app.test_client()
    sign_in(device, address)
    own = Shopper(device)
    own.add(HAT, quantity="8")
    own.wish(KIT, True)

    visit = Shopper(client)
    visit.add(HAT, quantity="5")
    visit.add(DENIM, quantity="2")
    visit.wish(KIT, True)
    visit.wish(DENIM, True)
    response = sign_in(client, address)
    message = page_text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert "2 items from this visit were added to your bag." in message
    assert "1 reached the most one order can hold (10)." in message
    assert "1 saved offer joined your wishlist." in message

    quantities = Shopper(client).quantities()
    assert quantities == {HAT: 10, DENIM: 2}
    assert Shopper(client).counters() == (12, 2)
    assert Shopper(device).quantities() == quantities  # the same bag on both devices
    with app.app_context():
        # Nothing left under the visit's session.
        assert (
            db.session.scalar(
                select(func.count()).select_from(BagLine).where(BagLine.owner_type == "session")
            )
            == 0
        )


def test_a_double_submitted_sign_in_counts_nothing_twice(app, client, customer):
    address, user_id = customer
    visit = Shopper(client)
    visit.add(HAT, quantity="3")
    visit.wish(KIT, True)
    old, token = sid(client), csrf_token_of(client, "/account/sign-in")
    data = {"email": address, "password": PASSWORD, "csrf_token": token}
    first = client.post("/account/sign-in", data=data)
    # The browser sends the second click with the cookie it had before the first answer.
    second = with_sid(app, old).post("/account/sign-in", data=data)
    assert first.status_code == second.status_code == 303
    # And a third from the tab that already got the new cookie: no error, nothing done.
    third = client.post("/account/sign-in", data=data)
    assert third.status_code == 303
    assert _bag(app, user_id) == {_offer_id(app, HAT): 3}
    assert _wishes(app, user_id) == {_offer_id(app, KIT)}


def test_two_sign_ins_of_one_visit_at_once_count_nothing_twice(app, customer):
    """The merge deletes the visit's rows first and adds only what it deleted: run it from
    two threads at once, many times, and the bag never holds more than the visit had."""
    from shop.bag.services import merge
    from shop.domain import Owner

    address, user_id = customer
    for round_number in range(5):
        client = app.test_client()
        Shopper(client).add(DENIM, quantity="1")
        visitor = Owner.visit(session_key(sid(client)))
        barrier = threading.Barrier(2)
        errors = []

        def run(visitor=visitor, barrier=barrier, errors=errors):
            try:
                with app.app_context():
                    barrier.wait()
                    merge(visitor, Owner.customer(user_id))
                    db.session.remove()
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert _bag(app, user_id) == {_offer_id(app, DENIM): round_number + 1}


def _offer_id(app, slug: str) -> int:
    from shop.catalog.models import Offer

    with app.app_context():
        value = db.session.scalar(select(Offer.id).where(Offer.slug == slug))
        db.session.rollback()
        return value


# ---------------------------------------------------------------- passwords


def test_changing_the_password_signs_out_everywhere_else(app, client, customer):
    address, user_id = customer
    other = app.test_client()
    sign_in(other, address)
    sign_in(client, address)
    before = sid(client)
    data = {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = post(client, "/account/password", data, token=csrf_token_of(client, "/account"))
    assert response.status_code == 303
    assert signed_in(client) and sid(client) != before
    assert not signed_in(other)
    assert session_rows(app, user_id) == 1
    assert sign_in(app.test_client(), address).status_code == 400
    assert sign_in(app.test_client(), address, NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"current_password": "not it at all", "password": NEW_PASSWORD},
            "That is not your current password.",
        ),
        ({"current_password": PASSWORD, "password": "1234567890"}, "most common"),
        ({"current_password": PASSWORD, "password": "short"}, "at least 10"),
    ],
)
def test_a_refused_password_change_changes_nothing(app, client, customer, data, message):
    sign_in(client, customer[0])
    data = {**data, "confirm": data["password"]}
    response = post(client, "/account/password", data, token=csrf_token_of(client, "/account"))
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in page_text(html)
    assert data["password"] not in html and data["current_password"] not in html
    assert sign_in(app.test_client(), customer[0]).status_code == 303


# ---------------------------------------------------------------- password reset


def test_a_reset_request_answers_the_same_whether_the_address_exists(app, client, customer):
    known = ask_reset(client, customer[0])
    unknown = ask_reset(client, "nobody-" + customer[0])
    assert known.status_code == unknown.status_code == 303
    assert known.headers["Location"] == unknown.headers["Location"]
    page = page_text(client.get("/account/reset").get_data(as_text=True))
    assert "a link to choose a new password is on its way" in page
    messages = outbox(app)
    assert len(messages) == 1  # only the address with an account gets mail
    message = messages[0]
    assert message["To"] == customer[0]
    assert message.get_body(("html",)) is not None


def test_reset_link_sets_a_new_password_once(app, client, customer):
    address, user_id = customer
    other = app.test_client()
    sign_in(other, address)
    ask_reset(client, address)
    link = reset_link(outbox(app)[0])
    form = client.get(link)
    assert form.status_code == 200 and address in page_text(form.get_data(as_text=True))
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    response = post(client, link, data)
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert signed_in(client) and not signed_in(other)
    assert sign_in(app.test_client(), address).status_code == 400
    assert sign_in(app.test_client(), address, NEW_PASSWORD).status_code == 303
    # The link is spent.
    again = client.get(link)
    assert again.status_code == 400
    assert "already used" in page_text(again.get_data(as_text=True))
    assert post(app.test_client(), link, data).status_code == 400


def test_a_reset_link_expires_after_an_hour(app, client, customer, monkeypatch):
    ask_reset(client, customer[0])
    link = reset_link(outbox(app)[0])
    moment = now()
    monkeypatch.setattr(services, "now", lambda: moment + timedelta(minutes=59))
    assert client.get(link).status_code == 200
    monkeypatch.setattr(services, "now", lambda: moment + timedelta(minutes=61))
    response = client.get(link)
    assert response.status_code == 400
    assert "expired" in page_text(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "x" + token,
        lambda token: "not-a-token",
        lambda token: "a" * 400,
        lambda token: token.split(".")[0] + ".." + token.split(".")[-1],
    ],
)
def test_a_tampered_reset_link_does_not_work(app, client, customer, mangle):
    ask_reset(client, customer[0])
    link = reset_link(outbox(app)[0])
    token = link.rsplit("/", 1)[1]
    response = client.get("/account/reset/" + mangle(token))
    assert response.status_code == 400
    assert "not valid" in page_text(response.get_data(as_text=True))


def test_a_reset_token_for_no_one_does_not_work(app, client):
    with app.test_request_context():
        token = services.dummy_reset_token()
    assert client.get("/account/reset/" + token).status_code == 400


def test_a_refused_new_password_keeps_the_link_working(app, client, customer):
    ask_reset(client, customer[0])
    link = reset_link(outbox(app)[0])
    response = post(client, link, {"password": "password123", "confirm": "password123"})
    assert response.status_code == 400
    assert "most common" in page_text(response.get_data(as_text=True))
    assert client.get(link).status_code == 200


# ---------------------------------------------------------------- mail through SMTP


class _HeldServer:
    """An SMTP handler that holds each message until the test lets it through."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        import asyncio

        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 10)
        self.received.append(envelope.content)
        return "250 OK"


def test_a_reset_is_mailed_through_smtp_without_the_answer_waiting(app, client, customer):
    handler = _HeldServer()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none")
        response = ask_reset(client, customer[0])
        # The answer came while the server still holds the message: the request did not wait
        # for the mail server, so its timing says nothing about the address.
        assert response.status_code == 303
        assert handler.received == []
        handler.release.set()
        assert mail.wait_for_outgoing()
        assert len(handler.received) == 1
        message = email.message_from_bytes(handler.received[0], policy=email.policy.default)
        assert message["To"] == customer[0]
        link = reset_link(message)
        assert client.get(link).status_code == 200
    finally:
        handler.release.set()
        controller.stop()


# ---------------------------------------------------------------- rate limits


def test_sign_in_is_limited_per_address_with_a_page_that_says_when(app, customer):
    app.config["RATELIMIT_SIGN_IN_EMAIL"] = "3 per minute"
    client = app.test_client()
    for _ in range(3):
        assert sign_in(client, customer[0], "wrong password, long").status_code == 400
    # Another case or spaces are the same address; the right password does not get past.
    response = sign_in(client, " " + customer[0].upper(), PASSWORD)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) <= 60
    text = page_text(response.get_data(as_text=True))
    assert "Too many" in text and "Try again in" in text
    assert f'value="{customer[0].upper()}"' in response.get_data(as_text=True)  # kept as typed
    # Another address from the same client is still welcome.
    assert sign_in(client, "someone-else@example.com").status_code == 400


def test_an_expired_form_past_the_limit_gets_the_limit_page(app, client):
    """A sign-in without its CSRF token is shown again (the form handler runs the view once
    more): past the limit that must be the 429 page with the form, not an error."""
    app.config["RATELIMIT_SIGN_IN"] = "2 per minute"
    data = {"email": "a@example.com", "password": "wrong password, long"}
    statuses = [post(client, "/account/sign-in", data).status_code for _ in range(2)]
    expired = post(client, "/account/sign-in", data, token="")
    assert statuses + [expired.status_code] == [400, 400, 429]
    assert 'value="a@example.com"' in expired.get_data(as_text=True)


def test_forms_that_check_no_password_count_no_failure(app, client):
    app.config["RATELIMIT_SIGN_IN"] = "2 per minute"
    data = {"email": "a@example.com", "password": "wrong password, long"}
    for _ in range(4):
        assert post(client, "/account/sign-in", data, token="").status_code == 400  # expired
        assert sign_in(client, "not an address").status_code == 400  # invalid
    assert [sign_in(client, "a@example.com", "nope, wrong").status_code for _ in range(3)] == [
        400,
        400,
        429,
    ]


def _from(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def sign_in_from(client, address: str, email_address: str, password: str = PASSWORD):
    """Sign in from the client address ``address``."""
    data = {"email": email_address, "password": password}
    return post(client, "/account/sign-in", data, **_from(address))


def test_the_owner_is_not_locked_out_by_another_clients_failures(app, customer):
    """Wrong guesses from elsewhere stop the guesser, never the owner on their own device."""
    app.config["RATELIMIT_SIGN_IN_EMAIL"] = "3 per minute"
    app.config["RATELIMIT_SIGN_IN_EMAIL_CEILING"] = "5 per hour"
    attacker = app.test_client()
    guesses = [
        sign_in_from(attacker, "203.0.113.5", customer[0], "wrong password, long").status_code
        for _ in range(4)
    ]
    assert guesses == [400, 400, 400, 429]
    owner = app.test_client()
    assert sign_in_from(owner, "198.51.100.7", customer[0]).status_code == 303


def test_many_clients_guessing_one_address_meet_its_ceiling(app, customer):
    app.config["RATELIMIT_SIGN_IN_EMAIL"] = "3 per minute"
    app.config["RATELIMIT_SIGN_IN_EMAIL_CEILING"] = "5 per hour"
    bots = [(app.test_client(), f"203.0.113.{n}") for n in range(6)]
    wrong = "wrong password, long"
    assert [sign_in_from(bot, ip, customer[0], wrong).status_code for bot, ip in bots] == [400] * 6
    # The ceiling is reached: a client that failed for this address waits, although its own
    # count (one failure) is far from its limit, even with the right password.
    bot, ip = bots[0]
    refused = sign_in_from(bot, ip, customer[0])
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 60
    # A client that never failed for it signs in; one that guesses joins the waiting ones.
    assert sign_in_from(app.test_client(), "198.51.100.7", customer[0]).status_code == 303
    newcomer = app.test_client()
    assert sign_in_from(newcomer, "198.51.100.8", customer[0], wrong).status_code == 400
    assert sign_in_from(newcomer, "198.51.100.8", customer[0]).status_code == 429


def test_a_successful_sign_in_counts_nothing(app, customer):
    app.config["RATELIMIT_SIGN_IN_EMAIL"] = "2 per minute"
    app.config["RATELIMIT_SIGN_IN"] = "2 per minute"
    client = app.test_client()
    for _ in range(4):
        assert sign_in(client, customer[0]).status_code == 303
        assert sign_out(client).status_code == 303


def test_simultaneous_guesses_get_exactly_the_limit(app, customer):
    """Attempts are counted before the password is checked: a burst gets no extra tries."""
    app.config["RATELIMIT_SIGN_IN_EMAIL"] = "3 per minute"
    clients = [app.test_client() for _ in range(10)]
    tokens = [csrf_token_of(c, "/account/sign-in") for c in clients]
    barrier = threading.Barrier(len(clients))

    def guess(n: int) -> int:
        data = {"email": customer[0], "password": "wrong password, long", "csrf_token": tokens[n]}
        barrier.wait()
        return clients[n].post("/account/sign-in", data=data).status_code

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        statuses = list(pool.map(guess, range(len(clients))))
    assert sorted(statuses) == [400] * 3 + [429] * 7


def test_sign_in_is_limited_per_client_address(app):
    app.config["RATELIMIT_SIGN_IN"] = "4 per minute"
    client = app.test_client()
    statuses = [sign_in(client, f"user{n}@example.com").status_code for n in range(6)]
    assert statuses == [400] * 4 + [429] * 2


def test_registration_and_reset_are_limited(app, client):
    app.config["RATELIMIT_REGISTER"] = "2 per minute"
    app.config["RATELIMIT_RESET_EMAIL"] = "2 per hour"
    statuses = [register(client, "bad address").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]
    statuses = [ask_reset(client, "someone@example.com").status_code for _ in range(3)]
    assert statuses == [303, 303, 429]


REDIS_URL = os.environ.get("SHOP_TEST_REDIS_URL")


@pytest.mark.skipif(not REDIS_URL, reason="SHOP_TEST_REDIS_URL is not set (.ci/run sets it)")
def test_limits_count_across_servers_sharing_redis(app, customer):
    """Two app servers with one Redis: attempts on either count against the one limit."""
    from shop import create_app

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    config = {
        key: app.config[key] for key in ("TESTING", "DATABASE_URL", "SECRET_KEY", "PUBLIC_URL")
    }
    servers = [
        create_app(
            {
                **config,
                "INSTANCE_PATH": Path(app.instance_path) / name,
                "RATELIMIT_STORAGE_URI": REDIS_URL,
                "RATELIMIT_KEY_PREFIX": prefix,
                "RATELIMIT_SIGN_IN_EMAIL": "4 per minute",
            }
        )
        for name in ("a", "b")
    ]
    statuses = []
    for attempt in range(6):
        client = servers[attempt % 2].test_client()
        statuses.append(sign_in(client, customer[0], "wrong password, long").status_code)
    assert statuses == [400] * 4 + [429] * 2


# ---------------------------------------------------------------- administrators


def test_create_admin_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(args=["users", "create-admin", "Owner@Example.com"], input=PASSWORD)
    assert result.exit_code == 0, result.output
    assert "created administrator owner@example.com" in result.output
    user = user_of(app, "owner@example.com")
    assert user.is_admin
    assert sign_in(app.test_client(), "owner@example.com").status_code == 303


def test_create_admin_promotes_an_existing_customer(app, runner, customer):
    result = runner.invoke(args=["users", "create-admin", customer[0]])
    assert result.exit_code == 0, result.output
    assert "promoted" in result.output
    assert user_of(app, customer[0]).is_admin


@pytest.mark.parametrize(
    ("email_address", "password", "message"),
    [
        ("not-an-email", PASSWORD, "not an email address"),
        ("owner@example.com", "short", "at least 10"),
        ("owner@example.com", "password123", "most common"),
    ],
)
def test_create_admin_refuses_bad_input(app, runner, email_address, password, message):
    result = runner.invoke(args=["users", "create-admin", email_address], input=password)
    assert result.exit_code != 0
    assert message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_only_administrators_see_the_admin_page(app, client, runner, customer):
    assert client.get("/admin").status_code == 303  # visitors: sign in first
    sign_in(client, customer[0])
    assert "Admin</a>" not in client.get("/").get_data(as_text=True)
    assert client.get("/admin").status_code == 403
    runner.invoke(args=["users", "create-admin", customer[0]])
    home = client.get("/").get_data(as_text=True)
    assert '<a href="/admin">Admin</a>' in home
    page = client.get("/admin")
    assert page.status_code == 200 and customer[0] in page.get_data(as_text=True)
