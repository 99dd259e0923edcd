"""Response headers, CSRF, body limits, static caching and compression."""

from __future__ import annotations

import gzip
import re

import pytest
from flask import request

from tests.support.forms import csrf_token_of


@pytest.fixture
def form_app(app):
    """The app with one form-reading POST route, to exercise CSRF and body limits."""

    def echo():
        return {"name": request.form.get("name", "")}

    app.add_url_rule("/test-echo", "test_echo", echo, methods=["POST"])
    return app


@pytest.mark.parametrize("path", ["/", "/offers", "/offers/r2-bucket-hat", "/offers/nope"])
def test_security_headers_on_every_page(client, path):
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ):
        assert directive in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"


def test_pages_have_no_inline_script_or_style(client):
    for path in ("/", "/offers", "/offers/r2-bucket-hat"):
        html = client.get(path).get_data(as_text=True)
        assert " style=" not in html
        assert "<style" not in html
        for script in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S):
            attributes, body = script
            assert "src=" in attributes or 'type="application/ld+json"' in attributes
            assert "src=" not in attributes or not body.strip()
        assert not re.search(r"<[^>]+\son[a-z]+=", html), "inline event handler"


def test_htmx_indicator_styles_are_off(client):
    html = client.get("/").get_data(as_text=True)
    assert '"includeIndicatorStyles": false' in html


def test_post_without_csrf_token_is_refused(form_app):
    client = form_app.test_client()
    client.get("/")
    response = client.post("/test-echo", data={"name": "x"})
    assert response.status_code == 400
    assert "This page had expired" in response.get_data(as_text=True)


def test_post_with_csrf_header_or_field_is_accepted(form_app):
    client = form_app.test_client()
    token = csrf_token_of(client)
    assert client.post("/test-echo", data={"name": "x"}, headers={"X-CSRFToken": token}).json == {
        "name": "x"
    }
    assert client.post("/test-echo", data={"name": "y", "csrf_token": token}).json == {"name": "y"}


def test_csrf_token_of_another_session_is_refused(form_app):
    token = csrf_token_of(form_app.test_client())
    other = form_app.test_client()
    other.get("/")
    response = other.post("/test-echo", data={"name": "x"}, headers={"X-CSRFToken": token})
    assert response.status_code == 400


def test_body_over_the_limit_is_a_413_page(form_app):
    client = form_app.test_client()
    token = csrf_token_of(client)
    big = "x" * (form_app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post("/test-echo", data={"name": big}, headers={"X-CSRFToken": token})
    assert response.status_code == 413
    assert "Request too large" in response.get_data(as_text=True)


def test_static_files_have_hashed_urls_and_a_year_of_cache(client):
    html = client.get("/").get_data(as_text=True)
    url = re.search(r'href="(/static/css/shop\.css\?v=[0-9a-f]{12})"', html)[1]
    response = client.get(url)
    assert response.status_code == 200
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]
    stale = client.get("/static/css/shop.css?v=000000000000")
    assert "immutable" not in stale.headers["Cache-Control"]


def test_pages_are_compressed(client):
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert b"Design the edge system" in gzip.decompress(response.data)


def test_secure_cookies_when_configured(app):
    app.config["SESSION_COOKIE_SECURE"] = True
    response = app.test_client().get("/")
    assert "Secure" in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert "SameSite=Lax" in response.headers["Set-Cookie"]


def test_forms_may_lead_to_stripe_checkout_only_when_stripe_is_configured(app, tmp_path):
    from shop import create_app

    assert "form-action 'self';" in app.test_client().get("/").headers["Content-Security-Policy"]
    stripe_app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path / "stripe",
            "DATABASE_URL": app.config["DATABASE_URL"],
            "SECRET_KEY": "x" * 32,
            "STRIPE_SECRET_KEY": "sk_test_x",
        }
    )
    csp = stripe_app.test_client().get("/").headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com;" in csp


# ---------------------------------------------------------------- cross-origin requests


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Sec-Fetch-Site": "none"}, True),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "same-site"}, False),  # a sibling subdomain
        ({"Sec-Fetch-Site": "cross-site", "Origin": "http://localhost"}, False),
        ({"Origin": "http://localhost"}, True),
        ({"Origin": "http://evil.example"}, False),
        ({"Origin": "http://localhost.evil.example"}, False),
        ({"Origin": "null"}, False),
        ({}, True),  # no browser said anything: the token decides
    ],
)
def test_a_post_from_another_origin_is_refused_whatever_its_token(form_app, headers, allowed):
    client = form_app.test_client()
    token = csrf_token_of(client)
    response = client.post("/test-echo", data={"name": "x", "csrf_token": token}, headers=headers)
    if allowed:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert "sent from another site" in response.get_data(as_text=True)


def test_a_cross_origin_add_to_bag_changes_nothing(client):
    from tests.support.shopper import Shopper

    shopper = Shopper(client)
    response = client.post(
        "/bag/add",
        data={"offer": "r2-bucket-hat", "quantity": "1", "token": "t" * 20, "next": "/"},
        headers={"X-CSRFToken": shopper.csrf, "Sec-Fetch-Site": "cross-site"},
    )
    assert response.status_code == 403
    assert shopper.counters() == (0, 0)


def test_the_stripe_webhook_takes_posts_from_stripe(app, client):
    app.config["STRIPE_SECRET_KEY"] = "sk_test_x"
    app.config["STRIPE_WEBHOOK_SECRET"] = "whsec_x"
    response = client.post("/stripe/webhook", data=b"{}", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 400  # refused for its missing signature, not its origin


@pytest.mark.parametrize("path", ["/", "/offers", "/offers/r2-bucket-hat", "/search?q=r2", "/nope"])
def test_pages_with_a_visitors_token_are_private(client, path):
    response = client.get(path)
    assert response.headers["Cache-Control"] == "private, no-cache"
    htmx = client.get(path, headers={"HX-Request": "true"})
    assert "private" in htmx.headers["Cache-Control"] or "no-store" in htmx.headers["Cache-Control"]
