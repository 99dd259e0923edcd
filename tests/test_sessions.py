"""The server-side session store."""

from __future__ import annotations

import os
import re
import secrets
import stat
from datetime import UTC, timedelta

import pytest
from flask import session, url_for
from sqlalchemy import func, select

from shop import create_app
from shop.clock import moved, now
from shop.extensions import db
from shop.sessions import JOIN_WINDOW, SessionRecord, regenerate, session_key
from tests.support.database import statements_sent
from tests.support.forms import csrf_token, csrf_token_of
from tests.support.shopper import CHECKOUT_FORM, Shopper


@pytest.fixture
def session_app(app):
    """The app with routes that read and change the session."""

    def put():
        session["note"] = "hello"
        return "ok"

    def read():
        return session.get("note", "-")

    def same():
        session["note"] = session.get("note")
        return "ok"

    def fresh_id():
        regenerate(session._get_current_object())
        return "ok"

    def clear():
        session.clear()
        return "ok"

    for name, view in [
        ("put", put),
        ("read", read),
        ("same", same),
        ("regen", fresh_id),
        ("clear", clear),
    ]:
        app.add_url_rule(f"/test-session/{name}", f"test_{name}", view, methods=["GET"])
    return app


def rows(app):
    """The stored sessions as plain rows (id, data, expires_at)."""
    with app.app_context():
        result = db.session.execute(
            select(SessionRecord.id, SessionRecord.data, SessionRecord.expires_at)
        ).all()
        db.session.rollback()
        return result


def cookie(client):
    return client.get_cookie("shop_session")


def test_cookieless_get_writes_nothing(client, app):
    for path in ("/", "/offers", "/offers/r2-bucket-hat", "/offers/nope", "/healthz"):
        client.delete_cookie("shop_session")
        client.get(path)
    assert rows(app) == []


@pytest.mark.parametrize("path", ["/healthz", "/robots.txt", "/sitemap.xml", "static"])
def test_answers_without_a_csrf_token_set_no_cookie(client, app, path):
    if path == "static":
        with app.test_request_context():
            path = url_for("static", filename="css/shop.css")
    response = client.get(path)
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers, path


def test_a_static_file_costs_no_session_lookup(client, app):
    Shopper(client).add("r2-bucket-hat")  # a visitor with a stored session
    with app.test_request_context():
        path = url_for("static", filename="css/shop.css")
    with app.app_context(), statements_sent(app) as statements:
        response = client.get(path)
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    assert statements == []


def test_the_counters_come_with_the_session_in_one_statement(client, app):
    """A returning visitor's GET reads the session and the header counters (bag quantity,
    wishlisted offers) in one round trip; after a change the next GET reads the new ones."""
    shopper = Shopper(client)
    shopper.add("r2-bucket-hat", quantity="2")
    shopper.wish("durable-object-denim", True)
    with app.app_context(), statements_sent(app) as sent:
        assert shopper.counters() == (2, 1)
    statements = [text for text, _ in sent if text != "BEGIN"]  # SQLite's, issued by us
    assert len(statements) == 1, statements
    assert "bag_quantity" in statements[0] and "wishlist_ids" in statements[0]

    shopper.wish("durable-object-denim", False)
    shopper.add("r2-bucket-hat")
    assert shopper.counters() == (3, 0)


def test_page_with_a_csrf_token_sets_an_httponly_lax_cookie(client):
    response = client.get("/")
    header = response.headers["Set-Cookie"]
    assert header.startswith("shop_session=")
    assert "HttpOnly" in header and "SameSite=Lax" in header
    value = cookie(client).value
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)
    assert "Cookie" in response.headers["Vary"]


def test_csrf_token_stays_the_same_for_the_same_cookie(client):
    first = csrf_token_of(client, "/")
    again = csrf_token_of(client, "/")
    assert first.split(".")[0] == again.split(".")[0]


def test_data_is_stored_under_the_hash_of_the_id(session_app):
    client = session_app.test_client()
    client.get("/test-session/put")
    stored = rows(session_app)
    assert len(stored) == 1
    sid = cookie(client).value
    assert stored[0].id == session_key(sid) != sid
    assert "csrf" not in stored[0].data  # the CSRF secret is derived, never stored
    assert client.get("/test-session/read").get_data(as_text=True) == "hello"


def test_a_request_that_changes_nothing_writes_nothing(session_app):
    client = session_app.test_client()
    client.get("/test-session/put")
    before = rows(session_app)[0]
    with session_app.app_context():
        db.session.execute(db.update(SessionRecord).values(data='{"note":"hello"}'))
        db.session.commit()
    response = client.get("/test-session/same")
    assert "Set-Cookie" not in response.headers
    after = rows(session_app)[0]
    assert after.expires_at == before.expires_at


def test_expiry_slides_at_most_once_an_hour(session_app):
    client = session_app.test_client()
    client.get("/test-session/put")
    lifetime = session_app.permanent_session_lifetime
    # Thirty minutes old: no write.
    with session_app.app_context():
        half_hour = now() + lifetime - timedelta(minutes=30)
        db.session.execute(db.update(SessionRecord).values(expires_at=half_hour))
        db.session.commit()
    response = client.get("/test-session/read")
    assert "Set-Cookie" not in response.headers
    # Two hours old: the expiry moves and the cookie is renewed.
    with session_app.app_context():
        two_hours = now() + lifetime - timedelta(hours=2)
        db.session.execute(db.update(SessionRecord).values(expires_at=two_hours))
        db.session.commit()
    response = client.get("/test-session/read")
    assert "shop_session=" in response.headers["Set-Cookie"]
    stored = rows(session_app)[0].expires_at
    stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
    assert abs(stored - (now() + lifetime)) < timedelta(minutes=1)


def test_expired_session_starts_empty(session_app):
    client = session_app.test_client()
    client.get("/test-session/put")
    with session_app.app_context():
        db.session.execute(db.update(SessionRecord).values(expires_at=now() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get("/test-session/read").get_data(as_text=True) == "-"
    client.get("/test-session/put")
    assert len(rows(session_app)) == 1


def test_regenerate_issues_a_new_id_and_drops_the_old_row(session_app):
    client = session_app.test_client()
    client.get("/test-session/put")
    old = cookie(client).value
    client.get("/test-session/regen")
    new = cookie(client).value
    assert new != old
    stored = rows(session_app)
    assert [row.id for row in stored] == [session_key(new)]
    assert client.get("/test-session/read").get_data(as_text=True) == "hello"
    # The old id no longer opens the data.
    client.set_cookie("shop_session", old)
    assert client.get("/test-session/read").get_data(as_text=True) == "-"


@pytest.mark.parametrize("value", ["", "short", "x" * 43 + "!", "../" * 20, "a" * 500])
def test_malformed_or_unknown_cookie_is_a_new_session(session_app, value):
    client = session_app.test_client()
    client.set_cookie("shop_session", value)
    response = client.get("/test-session/read")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "-"


def test_purge_removes_only_expired_sessions(session_app, runner):
    one, two = session_app.test_client(), session_app.test_client()
    one.get("/test-session/put")
    two.get("/test-session/put")
    with session_app.app_context():
        db.session.execute(
            db.update(SessionRecord)
            .where(SessionRecord.id == session_key(cookie(one).value))
            .values(expires_at=now() - timedelta(days=1))
        )
        db.session.commit()
    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0
    assert "purged 1 expired session" in result.output
    assert [row.id for row in rows(session_app)] == [session_key(cookie(two).value)]


def test_secret_key_is_generated_once_with_mode_0600_and_reused(tmp_path, database_url):
    config = {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url}
    first = create_app(dict(config))
    path = tmp_path / "secret_key"
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(first.secret_key) >= 32
    second = create_app(dict(config))
    assert second.secret_key == first.secret_key
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret")] == []


def test_configured_secret_key_is_not_written(tmp_path, database_url):
    app = create_app({"INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url, "SECRET_KEY": "k"})
    assert app.secret_key == "k"
    assert not (tmp_path / "secret_key").exists()


def test_environment_overrides_configuration(tmp_path, database_url, monkeypatch):
    (tmp_path / "config.py").write_text("SESSION_LIFETIME_DAYS = 7\nMAX_QUERY_LENGTH = 100\n")
    monkeypatch.setenv("SHOP_MAX_QUERY_LENGTH", "200")
    app = create_app({"INSTANCE_PATH": tmp_path, "DATABASE_URL": database_url, "SECRET_KEY": "k"})
    assert app.config["SESSION_LIFETIME_DAYS"] == 7
    assert app.permanent_session_lifetime == timedelta(days=7)
    assert app.config["MAX_QUERY_LENGTH"] == 200


def test_session_count_stays_zero_for_many_anonymous_readers(app):
    for _ in range(5):
        app.test_client().get("/offers")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SessionRecord)) == 0


# ---------------------------------------------------------------- planted ids


def _planted(app, how: str) -> str:
    if how == "made up":
        return secrets.token_urlsafe(32)
    attacker = app.test_client()
    attacker.get("/")  # a page with a form hands out an id without storing anything
    return cookie(attacker).value


def _place_order(client) -> str:
    html = client.get("/checkout").get_data(as_text=True)
    hidden = {
        name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)[1]
        for name in ("checkout_token", "bag_fingerprint")
    }
    token = csrf_token(html)
    response = client.post("/checkout", data={**CHECKOUT_FORM, **hidden, "csrf_token": token})
    assert response.status_code == 303
    return response.headers["Location"].split("?")[0]


@pytest.mark.parametrize("how", ["made up", "handed out by the shop"])
def test_a_planted_id_is_never_adopted(app, how):
    """Whoever plants an id in a browser cannot read what the visitor then does."""
    planted = _planted(app, how)
    victim = app.test_client()
    victim.set_cookie("shop_session", planted)
    shopper = Shopper(victim)
    assert shopper.add("r2-bucket-hat").status_code == 303
    assert cookie(victim).value != planted
    assert shopper.post("/checkout/draft", {"_field": "notes", "notes": "secret"}).status_code
    order_path = _place_order(victim)
    shopper.add("realtime-websocket-sync-kit")

    attacker = app.test_client()
    attacker.set_cookie("shop_session", planted)
    assert Shopper(attacker).counters() == (0, 0)
    assert "Realtime" not in attacker.get("/bag").get_data(as_text=True)
    assert attacker.get(order_path).status_code == 404
    assert victim.get(order_path).status_code == 200
    assert session_key(planted) not in {row.id for row in rows(app)}


def test_the_second_click_of_a_double_click_lands_in_the_same_visit(app):
    """Both requests of a double click carry the id the page came with: one visit."""
    first = app.test_client()
    first.get("/")
    old = cookie(first).value
    Shopper(first).add("r2-bucket-hat")
    second = app.test_client()  # the second click, sent before the new cookie arrived
    second.set_cookie("shop_session", old)
    Shopper(second).add("realtime-websocket-sync-kit")
    assert cookie(second).value == cookie(first).value != old
    assert Shopper(first).quantities() == {
        "r2-bucket-hat": 1,
        "realtime-websocket-sync-kit": 1,
    }


def test_a_planted_id_tried_later_gets_a_visit_of_its_own(app):
    planted = _planted(app, "handed out by the shop")
    victim = app.test_client()
    victim.set_cookie("shop_session", planted)
    Shopper(victim).add("r2-bucket-hat")
    attacker = app.test_client()
    attacker.set_cookie("shop_session", planted)
    with moved(JOIN_WINDOW + timedelta(seconds=1)):
        Shopper(attacker).add("realtime-websocket-sync-kit")
    assert cookie(attacker).value not in (planted, cookie(victim).value)
    assert Shopper(victim).quantities() == {"r2-bucket-hat": 1}
    assert Shopper(attacker).quantities() == {"realtime-websocket-sync-kit": 1}


def test_the_page_tokens_keep_working_when_the_visit_gets_its_own_id(app):
    client = app.test_client()
    shopper = Shopper(client)  # the page's CSRF token, for the id it came with
    old = cookie(client).value
    assert shopper.add("r2-bucket-hat", htmx=True).status_code == 200
    assert cookie(client).value != old
    # The same page (same token) goes on working, with htmx and without.
    assert shopper.add("realtime-websocket-sync-kit", htmx=True).status_code == 200
    assert shopper.wish("r2-bucket-hat", True).status_code == 303
    assert shopper.counters() == (2, 1)


def test_over_https_the_cookie_is_a_host_cookie(tmp_path, database_url):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path,
            "DATABASE_URL": database_url,
            "SECRET_KEY": "k",
            "HTTPS": True,
        }
    )
    client = app.test_client()
    header = client.get("/", base_url="https://localhost").headers["Set-Cookie"]
    assert header.startswith("__Host-shop_session=")
    assert "Secure" in header and "Path=/" in header and "Domain" not in header
    # A cookie without the prefix (which a sibling subdomain or plain HTTP could set) is
    # not read.
    victim = app.test_client()
    victim.set_cookie("shop_session", secrets.token_urlsafe(32))
    response = victim.get("/", base_url="https://localhost")
    assert response.headers["Set-Cookie"].startswith("__Host-shop_session=")
