"""Offer and its tags."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.extensions import db


class Offer(db.Model):
    """One productized review on the shelf."""

    __tablename__ = "offers"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="price_not_negative"),
        CheckConstraint("length(currency) = 3", name="currency_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    category: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(160))
    description: Mapped[str] = mapped_column(Text)
    code_file: Mapped[str] = mapped_column(String(80))
    code_note: Mapped[str] = mapped_column(String(160))
    image: Mapped[str] = mapped_column(String(160))
    image_label: Mapped[str] = mapped_column(String(80))
    image_alt: Mapped[str] = mapped_column(String(300))
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    active: Mapped[bool] = mapped_column(default=True)
    # The length of the scoping call the offer comes with (catalogue file: call_minutes).
    call_minutes: Mapped[int] = mapped_column(Integer, default=60, server_default="60")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    tags: Mapped[list[OfferTag]] = relationship(
        back_populates="offer",
        cascade="all, delete-orphan",
        order_by="OfferTag.position",
        lazy="selectin",
    )

    @property
    def tag_names(self) -> list[str]:
        """The tags in the order the catalogue file gives them."""
        return [tag.name for tag in self.tags]

    def __repr__(self) -> str:
        return f"<Offer {self.slug}>"


class OfferTag(db.Model):
    """A tag on an offer ("Workers", "R2"...), kept in its own table so filters use an index."""

    __tablename__ = "offer_tags"

    offer_id: Mapped[int] = mapped_column(
        ForeignKey("offers.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    # Lower-cased name: tag filters ignore case ("/offers?tag=r2" finds "R2").
    key: Mapped[str] = mapped_column(String(40), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    offer: Mapped[Offer] = relationship(back_populates="tags")


class CatalogVersion(db.Model):
    """One row whose number goes up with every change to the offers or their tags.

    Each app process keeps the active offers and their cards (``shop.catalog.shelf``); a
    process that sees a new number reads them again, so a ``flask catalog load`` run elsewhere
    reaches every server. The number is raised by the flush that changes an offer
    (``shop.catalog.services``), in the same transaction.
    """

    __tablename__ = "catalog_version"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=1)
