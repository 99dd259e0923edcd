"""Email addresses are one account whatever their look-alike spelling: normalize_email
(trimmed, NFKC, case-folded) at registration, sign-in, reset and checkout; an address that
is not valid once normalised is refused, not stored; migration 0008 re-normalises the rows
that exist and leaves colliding ones for the owner."""

from __future__ import annotations

import unicodedata

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, select, text

from shop.accounts.models import User
from shop.accounts.services import email_problem, normalize_email
from shop.extensions import db
from tests.support.accounts import (
    NEW_PASSWORD,
    PASSWORD,
    ask_reset,
    post,
    register,
    reset_link,
    sign_in,
    sign_out,
    signed_in,
)
from tests.support.catalogue import HAT
from tests.support.checkout import new_order, send_field
from tests.support.database import app_on_fresh_database
from tests.support.mailbox import outbox
from tests.support.orders import orders
from tests.support.pagetext import page_text
from tests.support.shopper import Shopper

# Pairs of spellings of one address: (as typed, as stored).
CONFUSABLES = [
    pytest.param("ｍｉｘｅｄ.case@example.com", "mixed.case@example.com", id="fullwidth"),
    pytest.param("Mixed.CASE@Example.COM", "mixed.case@example.com", id="upper-case"),
    pytest.param("mixed.case@ｅｘａｍｐｌｅ.com", "mixed.case@example.com", id="fullwidth-domain"),
    pytest.param("STRASSE@example.com", "strasse@example.com", id="upper-ss"),
    pytest.param("straße@example.com", "strasse@example.com", id="sharp-s"),
    pytest.param("ﬁsh@example.com", "fish@example.com", id="fi-ligature"),
    pytest.param("ΟΔΟΣ@example.com", "οδοσ@example.com", id="greek-capital-sigma"),
    pytest.param("οδος@example.com", "οδοσ@example.com", id="greek-final-sigma"),
    pytest.param("\u212aelvin@example.com", "kelvin@example.com", id="kelvin-sign"),
]
# Addresses that pass the form's Email check as typed but are not valid once normalised.
INVALID_ONCE_NORMALISED = [
    pytest.param("a＠b@example.com", "a@b@example.com", id="fullwidth-at-in-local-part"),
    pytest.param("a﹫b@example.com", "a@b@example.com", id="small-at-in-local-part"),
    pytest.param("\u00b4a@example.com", " \u0301a@example.com", id="acute-becomes-space"),
]


def _user_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(User))
        db.session.rollback()
        return count


def _emails(app) -> list[str]:
    with app.app_context():
        found = list(db.session.scalars(select(User.email).order_by(User.id)))
        db.session.rollback()
        return found


# ---------------------------------------------------------------- the function


@pytest.mark.parametrize(("typed", "stored"), CONFUSABLES)
def test_look_alike_spellings_normalise_to_one_address(typed, stored):
    assert normalize_email(f"  {typed} ") == stored
    assert normalize_email(stored) == stored  # the stored form is its own normal form


@pytest.mark.parametrize(
    "value",
    [
        "ß\u030c@example.com",  # folds to "ss" + combining caron, which NFKC composes to "sš"
        "I\u0307\u0328@example.com",  # combining marks that folding reorders
        "ｍｉｘｅｄ.ΟΔΟΣ.ﬁ@example.com",
        "plain@example.com",
    ],
)
def test_normalising_twice_changes_nothing(value):
    once = normalize_email(value)
    assert normalize_email(once) == once
    assert unicodedata.is_normalized("NFKC", once)


def test_normalize_email_of_nothing_is_empty():
    assert normalize_email(None) == normalize_email("  ") == ""


@pytest.mark.parametrize(("typed", "normalised"), INVALID_ONCE_NORMALISED)
def test_an_address_invalid_once_normalised_has_a_problem(typed, normalised):
    assert normalize_email(typed) == normalised
    problem = email_problem(typed)
    assert problem is not None and "not a valid email address" in problem
    assert normalised.strip() in problem


def test_valid_addresses_have_no_problem():
    assert email_problem("mixed.case@example.com") is None
    assert email_problem("ｍｉｘｅｄ.case@example.com") is None
    assert email_problem("straße@example.com") is None


def test_an_address_too_long_once_normalised_has_a_problem():
    # Each "㎒" is one character typed and three ("mhz") stored.
    domain = ".".join(["㎒" * 20] * 5) + ".com"
    typed = "a@" + domain
    assert len(typed) <= 254 < len(normalize_email(typed))
    assert "longer than 254 characters" in email_problem(typed)


# ---------------------------------------------------------------- accounts


@pytest.mark.parametrize(("typed", "stored"), CONFUSABLES)
@pytest.mark.parametrize("typed_first", [True, False], ids=["look-alike-first", "plain-first"])
def test_a_look_alike_address_registers_once(app, typed, stored, typed_first):
    first, second = (typed, stored) if typed_first else (stored, typed)
    assert register(app.test_client(), first).status_code == 303
    response = register(app.test_client(), second, name="Someone Else")
    assert response.status_code == 400
    assert "already exists" in page_text(response.get_data(as_text=True))
    assert _emails(app) == [stored]


def test_sign_in_with_a_look_alike_address_finds_the_account(app, client):
    register(client, "mixed.case@example.com")
    sign_out(client)
    response = sign_in(client, "ｍｉｘｅｄ.ＣＡＳＥ@example.com")
    assert response.status_code == 303 and signed_in(client)
    sign_out(client)
    # And the other way round: registered with the look-alike, signed in with plain letters.
    register(client, "ﬁsh@example.com")
    sign_out(client)
    assert sign_in(client, "FISH@example.com").status_code == 303 and signed_in(client)


def test_a_reset_asked_with_a_look_alike_address_reaches_the_account(app, client):
    register(client, "straße@example.com")
    sign_out(client)
    assert ask_reset(client, "ＳＴＲＡＳＳＥ@example.com").status_code == 303
    [message] = outbox(app)
    assert message["To"] == "strasse@example.com"
    response = post(
        client, reset_link(message), {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert response.status_code == 303 and signed_in(client)
    sign_out(client)
    assert sign_in(client, "straße@example.com", NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(("typed", "normalised"), INVALID_ONCE_NORMALISED)
def test_registration_refuses_an_address_invalid_once_normalised(app, client, typed, normalised):
    response = register(client, typed)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    shown = page_text(html)
    assert "not a valid email address" in shown and normalised.strip() in shown
    assert 'aria-invalid="true"' in html and f'value="{typed}"' in html  # kept as typed
    assert "Enter an email address like" not in shown  # one message, not two
    assert _user_count(app) == 0


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/account/sign-in", {"email": "a＠b@example.com", "password": PASSWORD}),
        ("/account/reset", {"email": "a＠b@example.com"}),
    ],
)
def test_sign_in_and_reset_refuse_an_address_invalid_once_normalised(app, client, path, data):
    response = post(client, path, data)
    assert response.status_code == 400
    assert "a@b@example.com, which is not a valid email address" in page_text(
        response.get_data(as_text=True)
    )
    assert outbox(app) == []


def test_create_admin_refuses_an_address_invalid_once_normalised(app, runner):
    result = runner.invoke(args=["users", "create-admin", "a＠b@example.com"], input=PASSWORD)
    assert result.exit_code != 0
    assert "not a valid email address" in result.output
    assert _user_count(app) == 0


def test_an_ascii_password_that_is_the_address_in_look_alikes_is_refused(app, client):
    response = register(client, "ｍｉｘｅｄ.case@example.com", password="Mixed.Case@example.com")
    assert response.status_code == 400
    assert "must not be your email address" in page_text(response.get_data(as_text=True))


# ---------------------------------------------------------------- checkout


def test_an_order_stores_the_normalised_address(app, client):
    assert new_order(client, email="ＧＲＡＣＥ@Example.com").status_code == 303
    [order] = orders(app)
    assert order.email == "grace@example.com"


@pytest.mark.parametrize(("typed", "normalised"), INVALID_ONCE_NORMALISED)
def test_checkout_refuses_an_address_invalid_once_normalised(app, client, typed, normalised):
    response = new_order(client, email=typed)
    assert response.status_code == 400
    assert "not a valid email address" in page_text(response.get_data(as_text=True))
    assert orders(app) == []


def test_checkout_validates_the_normalised_address_in_place(client):
    Shopper(client).add(HAT)
    response = send_field(client, "email", "a＠b@example.com", route="/checkout/validate")
    html = response.get_data(as_text=True)
    assert 'id="email-field"' in html and "field-invalid" in html
    assert "a@b@example.com, which is not a valid email address" in page_text(html)


# ---------------------------------------------------------------- migration 0008


def _insert_user(user_id: int, address: str) -> None:
    db.session.execute(
        text(
            "INSERT INTO users (id, email, name, password_hash, is_admin, created_at,"
            " password_changed_at) VALUES (:id, :email, 'Someone', 'scrypt:x', :no,"
            " :moment, :moment)"
        ),
        {"id": user_id, "email": address, "no": False, "moment": "2026-11-30 12:00:00+00:00"},
    )


def test_migration_0008_renormalises_rows_and_leaves_collisions(tmp_path, capfd):
    # Stored as the previous rules stored them: trimmed and lower-cased only.
    rows = {
        1: "ｍｉｘｅｄ.case@example.com",  # alone: becomes mixed.case@example.com
        2: "straße@example.com",  # alone: becomes strasse@example.com
        3: "ａｄａ@example.com",  # collides with 4
        4: "ada@example.com",
        5: "ｇｒａｃｅ@example.com",  # collides with 6: both changed, both kept
        6: "ｇｒａｃｅ@ｅｘａｍｐｌｅ.com",
        7: "a＠b@example.com",  # not valid once normalised
        8: "plain@example.com",  # already normal
    }
    with app_on_fresh_database(tmp_path, "_emails") as app, app.app_context():
        downgrade(revision="0007")
        for user_id, address in rows.items():
            _insert_user(user_id, address)
        db.session.commit()
        capfd.readouterr()
        upgrade()
        logged = capfd.readouterr().err
        found = dict(db.session.execute(text("SELECT id, email FROM users")).all())
        db.session.rollback()
        # Downgrading has nothing to undo, and upgrading again changes nothing more.
        downgrade(revision="0007")
        upgrade()
        again = dict(db.session.execute(text("SELECT id, email FROM users")).all())
        db.session.remove()
        db.engine.dispose()
    assert found == {
        **rows,
        1: "mixed.case@example.com",
        2: "strasse@example.com",
    }
    assert again == found
    assert "users 3, 4 share one email address" in logged
    assert "users 5, 6 share one email address" in logged
    assert "user 7: the email address is not a valid one once normalised" in logged
    assert "re-normalised the email address of 2 user(s)" in logged
