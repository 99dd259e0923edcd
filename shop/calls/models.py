"""The studio's hours for scoping calls, its limits, and the calls booked.

A call keeps the studio busy from ``starts_at`` to ``blocked_until`` (its end plus the buffer
in force when it was booked or moved). On PostgreSQL an exclusion constraint refuses two
booked calls whose busy times overlap (migration 0011: ``ex_calls_busy_overlap``); on SQLite
bookings are written one at a time (``BEGIN IMMEDIATE``) and checked inside that
transaction. Either way the database, not a read before the write, keeps one call per time.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.extensions import db
from shop.orders.models import Order

# Schema objects the migration creates that no model describes (the PostgreSQL exclusion
# constraint): Alembic's autogenerate leaves them alone (migrations/env.py).
DATABASE_ONLY = frozenset({"ex_calls_busy_overlap"})


class CallStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"


class StudioHours(db.Model):
    """One range of the studio's weekly hours, in wall-clock minutes of its zone."""

    __tablename__ = "call_hours"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday_known"),
        CheckConstraint("start_minute >= 0 AND end_minute <= 1440", name="within_day"),
        CheckConstraint("start_minute < end_minute", name="starts_before_end"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    weekday: Mapped[int] = mapped_column(Integer)  # 0 is Monday
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)


class StudioDay(db.Model):
    """A dated exception: a day off (no range), or hours added on that date."""

    __tablename__ = "call_days"
    __table_args__ = (
        CheckConstraint(
            "(start_minute IS NULL AND end_minute IS NULL) OR "
            "(start_minute >= 0 AND end_minute <= 1440 AND start_minute < end_minute)",
            name="off_or_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    start_minute: Mapped[int | None] = mapped_column(Integer)
    end_minute: Mapped[int | None] = mapped_column(Integer)

    @property
    def off(self) -> bool:
        return self.start_minute is None


class CallSettings(db.Model):
    """The studio's limits for booking (one row, id 1) and the calendar feed's secret."""

    __tablename__ = "call_settings"
    __table_args__ = (
        CheckConstraint("id = 1", name="one_row"),
        CheckConstraint(
            "step_minutes BETWEEN 5 AND 240 AND buffer_minutes BETWEEN 0 AND 240 AND "
            "notice_hours BETWEEN 0 AND 2160 AND window_days BETWEEN 1 AND 365 AND "
            "max_per_day BETWEEN 1 AND 48 AND cutoff_hours BETWEEN 0 AND 720",
            name="limits_in_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    step_minutes: Mapped[int] = mapped_column(Integer, default=30)
    buffer_minutes: Mapped[int] = mapped_column(Integer, default=15)
    notice_hours: Mapped[int] = mapped_column(Integer, default=24)
    window_days: Mapped[int] = mapped_column(Integer, default=30)
    max_per_day: Mapped[int] = mapped_column(Integer, default=4)
    # A buyer moves or cancels a call up to this many hours before it.
    cutoff_hours: Mapped[int] = mapped_column(Integer, default=24)
    feed_secret: Mapped[str] = mapped_column(String(64))
    # Random tokens, new with every change in the same transaction: of the weekly hours or
    # the dated exceptions (hours_version), of a booking, move or cancellation
    # (calls_version). What a process read for one token is what the database held with it;
    # tokens, unlike counters, never come back for another state (a database recreated or
    # restored from another history).
    hours_version: Mapped[str] = mapped_column(String(32), default="", server_default="")
    calls_version: Mapped[str] = mapped_column(String(32), default="", server_default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Call(db.Model):
    """A scoping call of an order: booked, moved (same row and UID, a higher sequence) or
    cancelled (kept, so calendars get the cancellation)."""

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint("status IN ('booked', 'cancelled')", name="status_known"),
        CheckConstraint("starts_at < ends_at AND ends_at <= blocked_until", name="times_in_order"),
        # One booked call per order: a second tab's booking is refused by the database.
        Index(
            "ux_calls_booked_order",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index("ix_calls_status_starts_at", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(80), unique=True)  # the calendar event's UID
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    blocked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # raised with every change
    buyer_zone: Mapped[str] = mapped_column(String(64))
    # The order's status before the booking, to go back to when the call is cancelled.
    order_status_before: Mapped[str] = mapped_column(String(20))
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    order: Mapped[Order] = relationship(lazy="joined")
