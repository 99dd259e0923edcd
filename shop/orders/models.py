"""Orders, their lines (title and unit price copied at the time of the order), and the
Stripe events already handled."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.extensions import db

# Every status an order can have; the first two are where a new order starts.
STATUSES = (
    "pending_payment",  # placed, waiting for Stripe Checkout
    "submitted",  # placed in invoice mode (no Stripe): an invoice follows
    "paid",
    "contacted",
    "scheduled",
    "completed",
    "cancelled",
    "expired",  # left pending_payment for a day
)
STATUS_LABELS = {
    "pending_payment": "Waiting for payment",
    "submitted": "Submitted, invoice follows",
    "paid": "Paid",
    "contacted": "Contacted",
    "scheduled": "Scheduled",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "expired": "Expired unpaid",
}
# What an administrator may move an order to by hand.
ADMIN_STATUSES = ("contacted", "scheduled", "completed", "cancelled")


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
    owner_type: Mapped[str] = mapped_column(String(10))  # "session" or "user"
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

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order",
        order_by="OrderLine.id",
        lazy="selectin",
        cascade="all, delete-orphan",
    )

    @property
    def compliance(self) -> list[str]:
        return json.loads(self.compliance_json or "[]")

    @property
    def cloudflare(self) -> list[str]:
        return json.loads(self.cloudflare_json or "[]")

    @property
    def status_label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


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


class StripeEvent(db.Model):
    """A Stripe webhook event already handled: each event id is acted on once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # evt_...
    type: Mapped[str] = mapped_column(String(100))
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
