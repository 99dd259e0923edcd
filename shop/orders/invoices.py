"""Invoices: a number sequential per year, and the seller's and buyer's details as they are
when the invoice is issued.

An invoice is issued when an administrator moves an invoice-mode order to "invoiced", or
when Stripe reports an order paid (a paid invoice). Its number comes from one atomic upsert
on ``invoice_counters`` in the same transaction as the invoice, so numbers never repeat and
leave no gaps: a transaction that fails takes its number back with it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam

from shop.db import built_once, upsert_insert
from shop.extensions import db
from shop.orders.models import Invoice, InvoiceCounter, Order


def _build_next_number() -> Any:
    insert = upsert_insert(InvoiceCounter).values(year=bindparam("p_year"), last=1)
    return insert.on_conflict_do_update(
        index_elements=["year"], set_={"last": InvoiceCounter.last + 1}
    ).returning(InvoiceCounter.last)


def lines_of(value: Any) -> list[str]:
    """A setting or field of several lines (a list, or one text) as its non-empty lines."""
    if isinstance(value, list | tuple):
        return [str(line) for line in value if str(line).strip()]
    return [line for line in str(value or "").splitlines() if line.strip()]


def seller() -> dict[str, Any]:
    """The studio's details from the settings (STUDIO_*), as an invoice shows them."""
    config = current_app.config
    return {
        "name": config.get("STUDIO_NAME", ""),
        "address": lines_of(config.get("STUDIO_ADDRESS")),
        "email": config.get("STUDIO_EMAIL", ""),
        "vat_id": config.get("STUDIO_VAT_ID", ""),
        "register": config.get("STUDIO_REGISTER", ""),
    }


def buyer(order: Order) -> dict[str, Any]:
    """Who the order bills: its invoice details, or else its contact."""
    return {
        "name": order.billing_name or order.company or order.name,
        "contact": order.name,
        "email": order.email,
        "address": lines_of(order.billing_address),
        "vat_id": order.vat_id,
        "po_number": order.po_number,
    }


def issue(order: Order, moment: datetime) -> Invoice:
    """Issue the order's invoice (in the caller's write transaction), or return the one it
    has."""
    existing = db.session.scalar(db.select(Invoice).where(Invoice.order_id == order.id))
    if existing is not None:
        return existing
    year = moment.year
    sequence = db.session.execute(built_once(_build_next_number), {"p_year": year}).scalar_one()
    invoice = Invoice(
        order_id=order.id,
        number=f"{year}-{sequence:04d}",
        year=year,
        sequence=sequence,
        issued_at=moment,
        seller_json=json.dumps(seller()),
        buyer_json=json.dumps(buyer(order)),
    )
    db.session.add(invoice)
    db.session.flush()
    return invoice
