"""Bag lines, wishlist items and used form tokens.

The owner is the visitor's session (``owner_type = "session"``, ``owner_id`` = the stored
session key) until sign-in, and the customer after it (``"user"``, the user id). Neither
table points at ``sessions`` with a foreign key: the session row is written after the view
has committed, and ``sessions purge`` removes what expired sessions leave behind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Offer
from shop.extensions import db

MAX_QUANTITY = 10


class BagLine(db.Model):
    """One offer in an owner's bag, with its quantity and the unit price when first added."""

    __tablename__ = "bag_lines"
    __table_args__ = (
        UniqueConstraint("owner_type", "owner_id", "offer_id", name="uq_bag_lines_owner_offer"),
        CheckConstraint(f"quantity BETWEEN 1 AND {MAX_QUANTITY}", name="quantity_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    offer: Mapped[Offer] = relationship(lazy="joined")

    @property
    def line_total_cents(self) -> int:
        """Quantity times the unit price remembered on the line."""
        return self.quantity * self.unit_price_cents

    @property
    def price_changed(self) -> bool:
        """Whether the offer's price differs from the one this line remembers."""
        return self.offer.price_cents != self.unit_price_cents


class WishlistItem(db.Model):
    """One offer saved to an owner's wishlist."""

    __tablename__ = "wishlist_items"
    __table_args__ = (
        UniqueConstraint(
            "owner_type", "owner_id", "offer_id", name="uq_wishlist_items_owner_offer"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_type: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[str] = mapped_column(String(64))
    offer_id: Mapped[int] = mapped_column(ForeignKey("offers.id", ondelete="CASCADE"), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    offer: Mapped[Offer] = relationship(lazy="joined")


class UsedFormToken(db.Model):
    """A form token already spent: the same "add" form sent twice changes the bag once."""

    __tablename__ = "used_form_tokens"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
