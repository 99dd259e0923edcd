"""Orders in tests: inserted directly as rows (the checkout that places them is tested on its
own), read back, and moved on by an administrator."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from shop.db import write_transaction
from shop.extensions import db
from shop.orders.models import Order, OrderLine
from shop.orders.services import new_reference
from tests.support.forms import form_token

# (title, unit price in cents, quantity): $9,012.50 in all.
LINES = (("Edge architecture review", 450000, 2), ("R2 migration plan", 1250, 1))


def order_values(**values) -> dict:
    """Every column of an order, with ``values`` instead of the defaults. The buyer's
    address is the reference's own (``eg-xxxx-xxxx@example.com``) unless given."""
    moment = values.pop("created_at", None) or datetime.now(UTC)
    reference = values.pop("reference", None) or new_reference()
    row = {
        "reference": reference,
        "checkout_token": uuid.uuid4().hex,
        "owner_type": "session",
        "owner_id": uuid.uuid4().hex,
        "user_id": None,
        "status": "submitted",
        "name": "Ada Lovelace",
        "email": f"{reference.lower()}@example.com",
        "company": "Analytical Engines",
        "role": "CTO",
        "hosting": "gcp",
        "hosting_other": "",
        "traffic_amount": 1200,
        "traffic_unit": "per_second",
        "stateful": "Sessions in Redis",
        "files": "Uploads to S3",
        "compliance_json": json.dumps(["gdpr", "soc2"]),
        "compliance_notes": "EU customers",
        "cloudflare_json": json.dumps(["workers", "r2"]),
        "notes": "Call after 3 pm",
        "currency": "USD",
        "stripe_session_id": None,
        "payment_attempt": 0,
        "created_at": moment,
        "updated_at": moment,
        "paid_at": None,
    }
    row.update(values)
    return row


def add_orders(app: Flask, *specs: dict, lines=LINES) -> list[str]:
    """Insert one order per spec (column values, see ``order_values``) with ``lines``;
    returns their references."""
    references = []
    with app.app_context():
        with write_transaction():
            for spec in specs:
                order = Order(
                    **order_values(**spec),
                    total_cents=sum(price * quantity for _, price, quantity in lines),
                )
                order.lines = [
                    OrderLine(
                        offer_id=None,
                        slug=re.sub(r"[^a-z0-9]+", "-", title.lower()),
                        title=title,
                        unit_price_cents=price,
                        currency="USD",
                        quantity=quantity,
                    )
                    for title, price, quantity in lines
                ]
                db.session.add(order)
                references.append(order.reference)
        db.session.remove()
    return references


def add_order(app: Flask, *, lines=LINES, **values) -> str:
    """Insert one order (see ``add_orders``); its reference."""
    return add_orders(app, values, lines=lines)[0]


def orders(app: Flask) -> list[Order]:
    """Every order with its lines, oldest first, detached from the session."""
    with app.app_context():
        found = list(db.session.scalars(select(Order).order_by(Order.id)))
        for order in found:
            order.lines  # noqa: B018 (loaded before the session goes)
            db.session.expunge(order)
        db.session.rollback()
        return found


def move(admin: FlaskClient, reference: str, status: str, **extra):
    """Send the status form of the order's admin page, as an administrator's browser."""
    page = admin.get(f"/admin/orders/{reference}").get_data(as_text=True)
    return admin.post(
        f"/admin/orders/{reference}/status",
        data={"status": status, "csrf_token": form_token(page), **extra},
    )
