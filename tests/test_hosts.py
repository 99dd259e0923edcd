"""Forged hosts: requests for a host the shop does not serve are refused before anything runs,
and every absolute address the shop writes (mail, canonical links, the sitemap) carries only
the public origin, whatever Host, X-Forwarded-Host or Forwarded say."""

from __future__ import annotations

import re

import pytest

from shop import create_app
from shop.catalog.services import load_catalog
from shop.extensions import db
from tests.support.accounts import ask_reset, new_customer
from tests.support.catalogue import HAT
from tests.support.checkout import checkout_fields
from tests.support.database import PG_URL, TEST_SECRET
from tests.support.mailbox import outbox
from tests.support.shopper import CHECKOUT_FORM, Shopper

PUBLIC = "https://shop.example"
FORGED = "evil.example"


@pytest.fixture
def make_app(database_url, tmp_path):
    """Build the shop on the test database with settings of the test's choosing."""
    made = []

    def make(**config):
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": tmp_path / f"instance{len(made)}",
                "DATABASE_URL": database_url,
                "SECRET_KEY": TEST_SECRET,
                "PUBLIC_URL": None,
                **config,
            }
        )
        if PG_URL:  # the database fixture empties PostgreSQL's tables, catalogue included
            with app.app_context():
                load_catalog()
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def links(message) -> list[str]:
    """Every http(s) address in the mail's text and HTML parts."""
    found = []
    for part in ("plain", "html"):
        body = message.get_body((part,))
        if body is not None:
            found += re.findall(r"https?://[^\s\"'<>]+", body.get_content())
    return found


# ---------------------------------------------------------------- unknown hosts


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/account/reset"), ("POST", "/account/reset"), ("GET", "/healthz")],
)
def test_a_request_for_an_unknown_host_is_refused_before_anything_runs(app, method, path):
    response = app.test_client().open(path, method=method, headers={"Host": FORGED})
    assert response.status_code == 400
    assert "Unknown host" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers  # no session was opened


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "localhost:8000", "127.0.0.1:5000"])
def test_the_laptop_hosts_are_served_by_default(app, host):
    assert app.test_client().get("/", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["", "local host", "localhost:99999", "localhost.evil.example"])
def test_malformed_or_look_alike_hosts_are_refused(app, host):
    assert app.test_client().get("/", headers={"Host": host}).status_code == 400


def test_the_public_host_and_the_allowed_hosts_are_served(make_app):
    app = make_app(PUBLIC_URL=PUBLIC, ALLOWED_HOSTS="www.shop.example, .preview.example")
    client = app.test_client()
    for host in ("shop.example", "www.shop.example", "a.preview.example", "preview.example"):
        assert client.get("/", headers={"Host": host}).status_code == 200, host
    for host in ("localhost", "evil.example", "shop.example.evil.example"):
        assert client.get("/", headers={"Host": host}).status_code == 400, host


def test_a_reset_request_with_a_forged_host_mails_nothing(app):
    address = new_customer(app)
    before = len(outbox(app))
    response = ask_reset(app.test_client(), address, Host=FORGED)
    assert response.status_code == 400
    assert len(outbox(app)) == before


def test_a_forwarded_host_is_checked_behind_a_trusted_proxy(make_app):
    app = make_app(TRUSTED_PROXIES=1)
    address = new_customer(app)
    before = len(outbox(app))
    response = ask_reset(app.test_client(), address, **{"X-Forwarded-Host": FORGED})
    assert response.status_code == 400
    assert len(outbox(app)) == before


# ---------------------------------------------------------------- the public origin


@pytest.mark.parametrize("proxies", [0, 1])
@pytest.mark.parametrize(
    "forged",
    [
        {"X-Forwarded-Host": "shop.example"},  # allowed, but not what links are built from
        {"Forwarded": f"host={FORGED};proto=http"},  # never read
        {"X-Forwarded-Host": FORGED},  # ignored without a trusted proxy, refused with one
    ],
)
def test_reset_links_carry_only_the_public_origin(make_app, proxies, forged):
    app = make_app(PUBLIC_URL=PUBLIC, TRUSTED_PROXIES=proxies)
    address = new_customer(app)
    before = len(outbox(app))
    response = ask_reset(app.test_client(), address, **forged)
    if proxies and forged.get("X-Forwarded-Host") == FORGED:
        assert response.status_code == 400
        assert len(outbox(app)) == before
        return
    assert response.status_code == 303
    [message] = outbox(app)[before:]
    found = links(message)
    assert found and all(link.startswith(f"{PUBLIC}/account/reset/") for link in found), found


def test_without_a_public_url_links_use_the_allowed_request_host(app):
    address = new_customer(app)
    before = len(outbox(app))
    headers = {"Forwarded": f"host={FORGED}", "X-Forwarded-Host": FORGED}
    assert ask_reset(app.test_client(), address, **headers).status_code == 303
    [message] = outbox(app)[before:]
    assert all(link.startswith("http://localhost/account/reset/") for link in links(message))


@pytest.mark.parametrize("proxies", [0, 1])
def test_order_mails_link_to_the_public_origin(make_app, proxies):
    app = make_app(PUBLIC_URL=PUBLIC, TRUSTED_PROXIES=proxies)
    client = app.test_client()
    headers = {"Forwarded": f"host={FORGED}", "X-Forwarded-Host": "shop.example"}
    if not proxies:
        headers["X-Forwarded-Host"] = FORGED  # ignored without a trusted proxy
    shopper = Shopper(client)
    shopper.add(HAT)
    html = client.get("/checkout", headers=headers).get_data(as_text=True)
    hidden = checkout_fields(html)
    data = {**CHECKOUT_FORM, **hidden, "csrf_token": shopper.csrf}
    response = client.post("/checkout", data=data, headers=headers)
    assert response.status_code == 303
    messages = outbox(app)
    buyer = next(m for m in messages if m["To"] == "grace@example.com")
    owner = next(m for m in messages if m["To"] != "grace@example.com")
    assert any("/orders/EG-" in link for link in links(buyer))
    assert any("/admin/orders/EG-" in link for link in links(owner))
    for message in (buyer, owner):
        assert all(link.startswith(PUBLIC + "/") for link in links(message)), links(message)


def test_canonical_links_and_the_sitemap_use_the_public_origin(make_app):
    app = make_app(PUBLIC_URL=PUBLIC)
    client = app.test_client()
    headers = {"X-Forwarded-Host": FORGED, "Forwarded": f"host={FORGED}"}
    page = client.get("/", headers=headers).get_data(as_text=True)
    assert f'<link rel="canonical" href="{PUBLIC}/">' in page
    assert FORGED not in page
    sitemap = client.get("/sitemap.xml", headers=headers).get_data(as_text=True)
    assert f"<loc>{PUBLIC}/</loc>" in sitemap and FORGED not in sitemap
