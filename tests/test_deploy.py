"""``flask settings check`` (run by scripts/run): what a public shop lacks is said at start."""

from __future__ import annotations

import pytest

from shop import deploy

PUBLIC = {
    "PUBLIC_URL": "https://shop.example",
    "HTTPS": True,
    "TRUSTED_PROXIES": 1,
    "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
    "RATELIMIT_STORAGE_URI": "sqlite-file:///srv/shop/instance/ratelimits.sqlite3",
    "ORDERS_EMAIL": "owner@shop.example",
    "MAIL_FROM": "Edge goods <shop@shop.example>",
    "SMTP_HOST": "smtp.shop.example",
}


def test_a_laptop_with_the_defaults_gets_no_warning(app):
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
