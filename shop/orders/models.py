"""Orders, their lines (title and unit price copied at the time of the order), their
history, their invoices."""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.extensions import db


class OrderStatus(StrEnum):
    """Every status an order can have, stored as its value; the first two are where a new
    order starts."""

    PENDING_PAYMENT = "pending_payment"  # placed, waiting for Stripe Checkout
    SUBMITTED = "submitted"  # placed in invoice mode (no Stripe): an invoice follows
    INVOICED = "invoiced"  # the invoice went out, its payment is awaited
    PAID = "paid"
    CALL_SCHEDULED = "call_scheduled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # left pending_payment for a day


STATUSES = tuple(OrderStatus)
STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: "Waiting for payment",
    OrderStatus.SUBMITTED: "Submitted, invoice follows",
    OrderStatus.INVOICED: "Invoiced, payment awaited",
    OrderStatus.PAID: "Paid",
    OrderStatus.CALL_SCHEDULED: "Call scheduled",
    OrderStatus.COMPLETED: "Completed",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.EXPIRED: "Expired unpaid",
}
# The order's life: where an administrator may move an order from each status. Orders paid
# by Stripe enter at "paid" (the payment moves them, not a person); a call scheduled goes
# back to "paid" when the call is cancelled; an order is cancelled from any open status.
ADMIN_TRANSITIONS: dict[str, tuple[OrderStatus, ...]] = {
    OrderStatus.PENDING_PAYMENT: (OrderStatus.CANCELLED,),
    OrderStatus.SUBMITTED: (OrderStatus.INVOICED, OrderStatus.CANCELLED),
    OrderStatus.INVOICED: (OrderStatus.PAID, OrderStatus.CANCELLED),
    OrderStatus.PAID: (OrderStatus.CALL_SCHEDULED, OrderStatus.CANCELLED),
    OrderStatus.CALL_SCHEDULED: (OrderStatus.COMPLETED, OrderStatus.PAID, OrderStatus.CANCELLED),
    OrderStatus.EXPIRED: (OrderStatus.CANCELLED,),
    OrderStatus.COMPLETED: (),
    OrderStatus.CANCELLED: (),
}
# What the shop itself moves: a payment arriving, an unpaid order expiring.
SYSTEM_TRANSITIONS: dict[str, tuple[OrderStatus, ...]] = {
    OrderStatus.PENDING_PAYMENT: (OrderStatus.PAID, OrderStatus.EXPIRED),
    OrderStatus.EXPIRED: (OrderStatus.PAID,),
}
# What each status means for the buyer, in the mail that tells them of a change.
STATUS_NEWS = {
    OrderStatus.INVOICED: "The invoice is ready: it is linked below. Payment is due as it says.",
    OrderStatus.PAID: "Your payment arrived. Thank you.",
    OrderStatus.CALL_SCHEDULED: "The scoping call is scheduled.",
    OrderStatus.COMPLETED: "The review is complete. Thank you for working with us.",
    OrderStatus.CANCELLED: (
        "The order is cancelled. If you paid, the refund follows as the terms say."
    ),
}


class Order(db.Model):
    """A placed checkout: who, what (lines), the context of their system, and its status."""

    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{status}'" for status in STATUSES) + ")",
            name="status_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)  # EG-7K3Q-9XPM
    # The hidden token of the checkout page that placed it: a replay finds this order.
    checkout_token: Mapped[str] = mapped_column(String(64), unique=True)
    owner_type: Mapped[str] = mapped_column(String(10))  # an OwnerKind (shop.domain)
    owner_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), index=True)

    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), index=True)
    company: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(100), default="")
    hosting: Mapped[str] = mapped_column(String(40))
    hosting_other: Mapped[str] = mapped_column(String(100), default="")
    traffic_amount: Mapped[int] = mapped_column(BigInteger)  # up to 13 digits
    traffic_unit: Mapped[str] = mapped_column(String(20))
    stateful: Mapped[str] = mapped_column(Text, default="")
    files: Mapped[str] = mapped_column(Text, default="")
    compliance_json: Mapped[str] = mapped_column(Text, default="[]")
    compliance_notes: Mapped[str] = mapped_column(Text, default="")
    cloudflare_json: Mapped[str] = mapped_column(Text, default="[]")
    notes: Mapped[str] = mapped_column(Text, default="")

    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    paid_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the owner's notification named this order (None: held back in a burst).
    owner_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Invoice details (invoice mode): who is billed, where, their VAT ID and PO number.
    billing_name: Mapped[str] = mapped_column(String(200), default="")
    billing_address: Mapped[str] = mapped_column(Text, default="")
    vat_id: Mapped[str] = mapped_column(String(20), default="")
    po_number: Mapped[str] = mapped_column(String(40), default="")

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        order_by="OrderLine.id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )
    events: Mapped[list[OrderEvent]] = relationship(
        order_by="OrderEvent.id", lazy="select", cascade="all, delete-orphan", viewonly=False
    )
    invoice: Mapped[Invoice | None] = relationship(lazy="select", uselist=False)

    @property
    def compliance(self) -> list[str]:
        return json.loads(self.compliance_json or "[]")

    @property
    def cloudflare(self) -> list[str]:
        return json.loads(self.cloudflare_json or "[]")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)

    @property
    def next_statuses(self) -> tuple[str, ...]:
        """Where an administrator may move the order from here."""
        return ADMIN_TRANSITIONS.get(self.status, ())


class OrderLine(db.Model):
    """One offer of an order, as it was at the time of the order."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity BETWEEN 1 AND 10", name="quantity_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int | None] = mapped_column(
        ForeignKey("offers.id", ondelete="SET NULL"), index=True
    )
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    quantity: Mapped[int] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="lines")

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class OrderEvent(db.Model):
    """One step of an order's life: a status change (from, to) or an internal note, by whom
    and when. Administrators read it on the order's page; the buyer never sees it."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # "admin" (user_id says who), "shop" (expiry, placement), "stripe" (a payment).
    actor: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))  # None: a note only
    note: Mapped[str] = mapped_column(Text, default="")
    mailed_buyer: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User | None] = relationship(lazy="joined")


class Invoice(db.Model):
    """An order's invoice: a number sequential per year, and what it says, as issued (the
    seller's and the buyer's details copied, so later changes never rewrite it)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("year", "sequence", name="uq_invoices_year_sequence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"), unique=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # 2026-0001
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    seller_json: Mapped[str] = mapped_column(Text)
    buyer_json: Mapped[str] = mapped_column(Text)

    @property
    def seller(self) -> dict:
        return json.loads(self.seller_json)

    @property
    def buyer(self) -> dict:
        return json.loads(self.buyer_json)


class InvoiceCounter(db.Model):
    """The last invoice number of each year (taken with one atomic upsert)."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)
