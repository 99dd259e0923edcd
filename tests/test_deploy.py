"""``flask settings check`` (run by scripts/run): what a public shop lacks is said at start."""

from __future__ import annotations

import pytest

from shop import deploy
from tests.support.accounts import register

PUBLIC = {
    "PUBLIC_URL": "https://shop.example",
    "HTTPS": True,
    "TRUSTED_PROXIES": 1,
    "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
    "RATELIMIT_STORAGE_URI": "sqlite-file:///srv/shop/instance/ratelimits.sqlite3",
    "ORDERS_EMAIL": "owner@shop.example",
    "MAIL_FROM": "Edge goods <shop@shop.example>",
    "SMTP_HOST": "smtp.shop.example",
    "STUDIO_NAME": "Edge Studio GmbH",
    "STUDIO_ADDRESS": ["Torstraße 1", "10119 Berlin"],
    "STUDIO_EMAIL": "hello@shop.example",
    "STUDIO_VAT_ID": "DE136695976",
    "STUDIO_REGISTER": "Amtsgericht Berlin, HRB 1",
    "INVOICE_PAYMENT_DETAILS": "IBAN DE02 1203 0000 0000 2020 51",
}


def test_a_laptop_with_the_defaults_is_told_only_where_order_mail_goes(app):
    [warning] = deploy.warnings(app.config, "127.0.0.1:8000")
    assert "Notifications of orders go to shop@localhost" in warning
    app.config["ORDERS_EMAIL"] = "owner@example.com"
    assert deploy.warnings(app.config, "127.0.0.1:8000") == []


def test_a_complete_public_deployment_gets_no_warning():
    assert deploy.warnings(PUBLIC, "127.0.0.1:8000") == []


@pytest.mark.parametrize(
    ("changes", "bind", "words"),
    [
        ({}, "0.0.0.0:8000", "must sit behind the README's nginx site"),
        ({"PUBLIC_URL": None}, "127.0.0.1:8000", "SHOP_PUBLIC_URL is unset"),
        ({"PUBLIC_URL": "http://shop.example"}, "127.0.0.1:8000", "served over https"),
        ({"HTTPS": False}, "127.0.0.1:8000", "SHOP_HTTPS is off"),
        ({"TRUSTED_PROXIES": 0}, "127.0.0.1:8000", "SHOP_TRUSTED_PROXIES is 0"),
        ({"RATELIMIT_STORAGE_URI": "memory://"}, "127.0.0.1:8000", "each worker counts apart"),
        ({"ORDERS_EMAIL": None, "MAIL_FROM": "Shop <shop@localhost>"}, "[::1]:80", "localhost"),
        ({"SMTP_HOST": None}, "127.0.0.1:8000", "mail is written to instance/outbox/"),
        ({"STUDIO_NAME": "[Studio name]"}, "127.0.0.1:8000", "SHOP_STUDIO_NAME still hold"),
    ],
)
def test_each_missing_setting_is_named(changes, bind, words):
    found = deploy.warnings({**PUBLIC, **changes}, bind)
    assert len(found) == 1 and words in found[0], found


def test_the_command_says_what_is_served_and_warns(app, runner, monkeypatch):
    monkeypatch.setenv("SHOP_BIND", "0.0.0.0:8000")
    app.config["PUBLIC_URL"] = "https://shop.example"
    result = runner.invoke(args=["settings", "check"])
    assert result.exit_code == 0
    assert "serving the shop on 0.0.0.0:8000 for the hosts shop.example" in result.output
    assert "warning: gunicorn listens on 0.0.0.0:8000" in result.output


def test_the_admin_page_says_what_the_owner_must_still_set(app, client):
    assert register(client, "owner@example.com").status_code == 303
    runner = app.test_cli_runner()
    assert runner.invoke(args=["users", "create-admin", "owner@example.com"]).exit_code == 0
    page = client.get("/admin").get_data(as_text=True)
    assert "Notifications of orders go to shop@localhost" in page
    assert "SHOP_STUDIO_NAME" in page
