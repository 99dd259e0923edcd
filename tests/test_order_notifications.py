"""The owner's notifications of orders: everything needed to answer the buyer from the mail,
and a burst of orders summed up instead of one mail each."""

from __future__ import annotations

import pytest

from shop.extensions import limiter
from tests.support.checkout import GOOD, new_order
from tests.support.mailbox import outbox

OWNER = "owner@shop.example"


@pytest.fixture
def notifying_app(app):
    """The app, notifying the owner at OWNER of each order; the limits on orders are out of
    the way."""
    app.config.update(ORDERS_EMAIL=OWNER, RATELIMIT_ORDER_EMAIL="100 per hour")
    app.config.update(RATELIMIT_ORDER="100 per hour")
    return app


def owner_mails(app) -> list:
    return [m for m in outbox(app) if m["To"] == OWNER]


def text(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def test_the_owner_can_answer_the_buyer_from_the_mail(notifying_app, client):
    assert new_order(client).status_code == 303
    [message] = owner_mails(notifying_app)
    assert message["Reply-To"] == "grace@example.com"
    body = text(message)
    for expected in (
        "Grace Hopper",
        "grace@example.com",
        "Compilers Ltd",
        "Current hosting: AWS",
        "Expected traffic: 2,500 requests per second",
        "Stateful workflows: Carts and\nlive cursors",
        "File handling: Uploads up to 2 GB",
        "Compliance: GDPR, SOC 2. EU only",
        "Cloudflare in use: Workers, R2",
        "Anything else: Call after 3pm",
        "http://localhost/admin/orders/EG-",
    ):
        assert expected in body, expected
    html = message.get_body(("html",)).get_content()
    assert "GDPR, SOC 2. EU only" in html and "Workers, R2" in html


def test_a_burst_of_orders_is_summed_up(notifying_app, client, runner):
    notifying_app.config.update(
        RATELIMIT_OWNER_MAIL="2 per hour", RATELIMIT_OWNER_MAIL_NOTICE="1 per hour"
    )
    for n in range(5):
        assert new_order(client, email=f"buyer{n}@example.com").status_code == 303
    buyers = [m for m in outbox(notifying_app) if m["To"] != OWNER]
    assert len(buyers) == 5  # every buyer hears of their order
    subjects = [m["Subject"] for m in owner_mails(notifying_app)]
    assert len(subjects) == 3, subjects  # two orders, then one note that the rest are held
    assert sum("notifications held" in s for s in subjects) == 1
    # The held orders are named once, by the command (cron) or the next notification.
    result = runner.invoke(args=["orders", "notify"])
    assert result.exit_code == 0 and "named 3 held orders" in result.output
    [summary] = [
        m
        for m in owner_mails(notifying_app)
        if m["Subject"] == "3 orders placed while notifications were held"
    ]
    assert sum(f"buyer{n}@example.com" in text(summary) for n in range(5)) == 3
    assert "named 0 held orders" in runner.invoke(args=["orders", "notify"]).output


def test_the_next_notification_names_the_orders_held_before_it(notifying_app, client):
    notifying_app.config.update(
        RATELIMIT_OWNER_MAIL="1 per hour", RATELIMIT_OWNER_MAIL_NOTICE="1 per hour"
    )
    for n in range(3):
        new_order(client, email=f"buyer{n}@example.com")
    with notifying_app.app_context():
        limiter.reset()  # the window ends
    new_order(client, email="later@example.com")
    [last] = [m for m in owner_mails(notifying_app) if m["Reply-To"] == "later@example.com"]
    body = text(last)
    assert "later@example.com" in body
    assert "Also placed while notifications were held (2)" in body
    assert "buyer1@example.com" in body and "buyer2@example.com" in body
    assert GOOD["name"] in body
