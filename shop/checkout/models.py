"""The checkout draft: what a visitor typed into the checkout form, one row per field, so
two saves of different fields at once never overwrite each other."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from shop.extensions import db


class DraftField(db.Model):
    """One field of an owner's checkout draft (owner as in the bag: session or user)."""

    __tablename__ = "checkout_drafts"

    owner_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    field: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
