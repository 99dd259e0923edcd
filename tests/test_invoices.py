"""Invoices: details asked at checkout (invoice mode), numbers sequential per year, the
printable page and who may see it, the paid invoice of a Stripe payment."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from shop.db import write_transaction
from shop.extensions import db
from shop.orders import invoices, services
from shop.orders.models import Invoice, Order
from tests.support.catalogue import HAT
from tests.support.checkout import checkout_page, new_order
from tests.support.mailbox import outbox
from tests.support.orders import add_order, move, orders
from tests.support.pagetext import page_text
from tests.support.shopper import Shopper


@pytest.fixture
def studio(app):
    app.config.update(
        STUDIO_NAME="Edge Studio GmbH",
        STUDIO_ADDRESS=["Torstraße 1", "10119 Berlin", "Germany"],
        STUDIO_EMAIL="hello@edge.example",
        STUDIO_VAT_ID="DE136695976",
        STUDIO_REGISTER="Amtsgericht Berlin, HRB 1",
        INVOICE_PAYMENT_DETAILS="IBAN DE02 1203 0000 0000 2020 51",
        INVOICE_NOTE="Thank you for your business.",
    )
    return app


# ---------------------------------------------------------------- checkout


def test_invoice_details_are_asked_and_kept_on_the_order(app, client):
    assert new_order(client).status_code == 303
    [order] = orders(app)
    assert order.billing_name == "Compilers Ltd"
    assert order.billing_address == "1 Harbour Street\n10115 Berlin\nGermany"
    assert order.vat_id == "DE136695976"  # written as invoices show it
    assert order.po_number == "PO-2026-17"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"billing_name": ""}, "Enter who the invoice is for."),
        ({"billing_address": ""}, "Enter the address for the invoice."),
        ({"vat_id": "DE123456789"}, "That is not a valid VAT ID of Germany"),
        ({"vat_id": "FR 12345"}, "That is not a valid VAT ID of France"),
        ({"vat_id": "12345"}, "Start with the country code"),
        ({"vat_id": "DE" + "1" * 30}, "Use at most 20 characters."),
    ],
)
def test_bad_invoice_details_are_refused_with_everything_kept(app, client, changes, message):
    response = new_order(client, **changes)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in page_text(html)
    assert "Call after 3pm" in html and "Grace Hopper" in html
    assert orders(app) == []


@pytest.mark.parametrize(
    "vat_id", ["", "ATU13585627", "EL094259216", "NL004495445B01", "CHE116281710"]
)
def test_valid_or_foreign_vat_ids_are_taken(app, client, vat_id):
    assert new_order(client, vat_id=vat_id).status_code == 303


def test_with_stripe_no_invoice_details_are_asked(app, client):
    app.config["STRIPE_SECRET_KEY"] = "sk_test_x"
    Shopper(client).add(HAT)
    html, _ = checkout_page(client)
    assert 'name="billing_name"' not in html and 'name="vat_id"' not in html


# ---------------------------------------------------------------- numbers


def test_numbers_follow_each_other_within_a_year_and_start_again(app):
    first, second, third = (add_order(app, status="submitted") for _ in range(3))
    with app.app_context():

        def issue(reference, moment):
            with write_transaction():
                order = db.session.scalar(select(Order).where(Order.reference == reference))
                return invoices.issue(order, moment).number

        assert issue(first, datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == "2026-0001"
        assert issue(second, datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == "2026-0002"
        assert issue(third, datetime(2027, 1, 1, 0, 5, tzinfo=UTC)) == "2027-0001"
        # An order has one invoice, whatever asks again.
        assert issue(first, datetime(2027, 1, 2, tzinfo=UTC)) == "2026-0001"
        db.session.rollback()


def test_an_invoice_issued_keeps_what_it_said(studio, admin):
    reference = add_order(studio, status="submitted", billing_name="Old Name Ltd")
    move(admin, reference, "invoiced")
    studio.config["STUDIO_NAME"] = "Renamed Studio"
    with studio.app_context():
        db.session.execute(text("UPDATE orders SET billing_name = 'New Name Ltd'"))
        db.session.commit()
        invoice = db.session.scalar(select(Invoice))
        assert invoice.seller["name"] == "Edge Studio GmbH"
        assert invoice.buyer["name"] == "Old Name Ltd"
        db.session.rollback()


# ---------------------------------------------------------------- the page


def test_the_buyer_opens_the_invoice_from_the_order_page(studio, client, admin):
    assert new_order(client).status_code == 303
    [order] = orders(studio)
    order_page = client.get(f"/orders/{order.reference}").get_data(as_text=True)
    assert "/invoice" not in order_page  # none yet: it is issued when invoiced
    assert client.get(f"/orders/{order.reference}/invoice").status_code == 404
    move(admin, order.reference, "invoiced")
    order_page = client.get(f"/orders/{order.reference}").get_data(as_text=True)
    link = re.search(r'href="(/orders/[^"]+/invoice)"', order_page)[1]
    response = client.get(link)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    html = response.get_data(as_text=True)
    page = page_text(html)
    year = datetime.now(UTC).year
    for expected in (
        f"Invoice {year}-0001",
        "Edge Studio GmbH",
        "Torstraße 1",
        "VAT ID: DE136695976",
        "Amtsgericht Berlin, HRB 1",
        "Compilers Ltd",
        "Grace Hopper",
        "1 Harbour Street",
        "VAT ID: DE136695976",
        "Purchase order: PO-2026-17",
        "R2 Bucket Hat",
        "$1,800",
        "Please pay within 14 days",
        "IBAN DE02 1203 0000 0000 2020 51",
        "Thank you for your business.",
        "Due",
    ):
        assert expected in page, expected
    assert "css/invoice.css" in html  # the print stylesheet


def test_the_invoice_is_shown_only_to_who_may_see_the_order(studio, client, admin):
    new_order(client)
    [order] = orders(studio)
    move(admin, order.reference, "invoiced")
    stranger = studio.test_client()
    path = f"/orders/{order.reference}/invoice"
    assert stranger.get(path).status_code == 404
    assert stranger.get(path + "?key=" + "0" * 32).status_code == 404
    with studio.app_context():
        key = services.access_key(order.reference)
    assert stranger.get(f"{path}?key={key}").status_code == 200
    assert admin.get(path).status_code == 200


def test_a_stripe_payment_issues_a_paid_invoice(app):
    reference = add_order(app, status="pending_payment")
    with app.app_context():
        order = services.get_order(reference)
        with app.test_request_context("/"):
            assert services.mark_paid(order.id)
            assert not services.mark_paid(order.id)  # once
        invoice = db.session.scalar(select(Invoice).where(Invoice.order_id == order.id))
        assert invoice is not None and invoice.number.endswith("-0001")
        events = [
            (e.actor, e.from_status, e.to_status) for e in services.get_order(reference).events
        ]
        assert events == [("stripe", "pending_payment", "paid")]
        db.session.rollback()
    client = app.test_client()
    with app.app_context():
        key = services.access_key(reference)
    page = page_text(client.get(f"/orders/{reference}/invoice?key={key}").get_data(as_text=True))
    assert "Paid on" in page and "Please pay" not in page
    # The buyer's mail of the payment links to the invoice.
    [paid] = [m for m in outbox(app) if m["Subject"] == f"Your order {reference} is paid"]
    assert f"/orders/{reference}/invoice?key={key}" in paid.get_body(("plain",)).get_content()


def test_old_hand_set_statuses_find_their_place_in_the_orders_life(tmp_path):
    """Migration 0010: "scheduled" is a call scheduled; "contacted" is paid or submitted."""
    from flask_migrate import downgrade, upgrade

    from tests.support.database import app_on_fresh_database

    with app_on_fresh_database(tmp_path, "_statuses") as app, app.app_context():
        downgrade(revision="0009")
        rows = [
            ("contacted", None),
            ("contacted", "2026-11-30 10:00:00"),
            ("scheduled", "2026-11-30 10:00:00"),
        ]
        for n, (status, paid_at) in enumerate(rows):
            db.session.execute(
                text(
                    "INSERT INTO orders (reference, checkout_token, owner_type, owner_id, "
                    "status, name, email, company, role, hosting, hosting_other, "
                    "traffic_amount, traffic_unit, stateful, files, compliance_json, "
                    "compliance_notes, cloudflare_json, notes, total_cents, currency, "
                    "payment_attempt, created_at, updated_at, paid_at) VALUES (:ref, :token, "
                    "'session', 'x', :status, 'A', 'a@example.com', '', '', 'aws', '', 1, "
                    "'per_second', '', '', '[]', '', '[]', '', 100, 'USD', 0, :now, :now, "
                    ":paid)"
                ),
                {
                    "ref": f"EG-0000-000{n}",
                    "token": f"token-{n}-0123456789abcdef",
                    "status": status,
                    "now": "2026-11-29 10:00:00",
                    "paid": paid_at,
                },
            )
        db.session.commit()
        upgrade()
        found = db.session.execute(
            text("SELECT reference, status FROM orders ORDER BY reference")
        ).all()
        assert [status for _, status in found] == ["submitted", "paid", "call_scheduled"]
        db.session.remove()
        db.engine.dispose()
