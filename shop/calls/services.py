"""Scoping calls: the free times of an order's call, booking, moving and cancelling it, the
studio's hours and limits, and the reminders.

No double booking: every booking and move runs in one write transaction that first takes
the booking lock (SQLite: the transaction itself is ``BEGIN IMMEDIATE``, one writer at a
time; PostgreSQL: a transaction-scoped advisory lock), then reads the busy times and checks
the time inside that transaction, then writes. PostgreSQL's exclusion constraint on the busy
range (migration 0011) refuses an overlap even if a writer ever skipped the lock, and the
unique index on booked calls per order refuses a second call of one order; either refusal
comes back as a ``CallError`` like any other.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import parseaddr
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import String, func, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError

from shop.calls.models import Call, CallSettings, CallStatus, StudioDay, StudioHours
from shop.calls.slots import Busy, BusyTimes, Refusal, Rules, free_slots, refusal
from shop.calls.zones import studio_zone, zone_named
from shop.catalog.models import Offer
from shop.catalog.services import CALL_MINUTES_DEFAULT
from shop.clock import now
from shop.db import is_sqlite, write_transaction
from shop.domain import DomainError, ErrorKind
from shop.extensions import db
from shop.orders.models import Order, OrderEvent, OrderLine, OrderStatus

log = logging.getLogger(__name__)

# Orders whose buyer may book the call: placed in invoice mode (submitted, invoiced) or paid.
BOOKABLE = (OrderStatus.SUBMITTED, OrderStatus.INVOICED, OrderStatus.PAID)
# PostgreSQL's advisory lock for bookings (any fixed number; one lock for the whole shop).
_BOOKING_LOCK = 0x5C0_91_CA11

REFUSALS = {
    Refusal.MALFORMED: "That is not a time the picker offers. Choose one of the times below.",
    Refusal.OUTSIDE_HOURS: "That time is outside the studio's hours. Choose one of the times "
    "below.",
    Refusal.OFF_GRID: "Calls start at the times listed. Choose one of the times below.",
    Refusal.PAST: "That time has passed. Choose one of the times below.",
    Refusal.NOTICE: "That time is too soon: the studio needs more notice. Choose one of the "
    "times below.",
    Refusal.BEYOND_WINDOW: "That time is too far ahead to book yet. Choose one of the times below.",
    Refusal.DAY_FULL: "That day is fully booked. Choose another day below.",
    Refusal.TAKEN: "That time was just taken by someone else. Here are the times still free.",
}


class CallError(DomainError):
    """A booking, move or cancellation the shop refuses; ``refusal`` names a refused time."""

    def __init__(self, kind: ErrorKind, message: str, refusal: Refusal | None = None):
        super().__init__(kind, message)
        self.refusal = refusal


def _refused(reason: Refusal) -> CallError:
    kind = ErrorKind.CONFLICT if reason in (Refusal.TAKEN, Refusal.DAY_FULL) else ErrorKind.INVALID
    return CallError(kind, REFUSALS[reason], reason)


# ---------------------------------------------------------------- the studio's rules


def zone() -> ZoneInfo:
    """The studio's zone (checked at start)."""
    return studio_zone(current_app.config)


def settings() -> CallSettings:
    """The studio's limits (one row, written by the migration), read afresh."""
    row = db.session.get(CallSettings, 1, populate_existing=True)
    if row is None:  # a database migrated by hand without the seed: the defaults
        row = CallSettings(id=1, feed_secret=secrets.token_urlsafe(32), updated_at=now())
        with write_transaction():
            db.session.add(row)
    return row


def weekly_hours() -> dict[int, tuple[tuple[int, int], ...]]:
    """The studio's weekly hours: weekday (0 is Monday) → its ranges in wall-clock minutes."""
    weekly: dict[int, list[tuple[int, int]]] = {}
    for row in db.session.scalars(select(StudioHours).order_by(StudioHours.start_minute)):
        weekly.setdefault(row.weekday, []).append((row.start_minute, row.end_minute))
    return {weekday: tuple(ranges) for weekday, ranges in weekly.items()}


def exceptions(since: date | None = None) -> list[StudioDay]:
    """The dated exceptions (days off, extra hours) from ``since`` on, by date."""
    query = select(StudioDay).order_by(StudioDay.day, StudioDay.start_minute)
    if since is not None:
        query = query.where(StudioDay.day >= since)
    return list(db.session.scalars(query))


# The studio's hours and dated exceptions as last read, per database, version of the limits
# row's hours_version (a new token with every change to hours or exceptions, in its
# transaction)
# and day: a listing then reads one row instead of three tables.
_CALENDARS: dict[tuple[str, str, date], tuple[dict, frozenset, dict]] = {}


def _calendar(limits: CallSettings, today: date) -> tuple[dict, frozenset, dict]:
    key = (str(db.engine.url), limits.hours_version, today)
    found = _CALENDARS.get(key)
    if found is None:
        days_off: set[date] = set()
        extra: dict[date, list[tuple[int, int]]] = {}
        for row in exceptions(since=today - timedelta(days=1)):
            if row.off:
                days_off.add(row.day)
            else:
                extra.setdefault(row.day, []).append((row.start_minute, row.end_minute))
        found = (
            weekly_hours(),
            frozenset(days_off),
            {day: tuple(ranges) for day, ranges in extra.items()},
        )
        if len(_CALENDARS) > 64:
            _CALENDARS.clear()
        _CALENDARS[key] = found
    return found


def _changed_calendar() -> None:
    """A new hours_version in the current write transaction (the hours or the exceptions
    changed): every process reads them again."""
    db.session.execute(
        update(CallSettings)
        .where(CallSettings.id == 1)
        .values(hours_version=secrets.token_hex(16), updated_at=now())
    )


def rules(limits: CallSettings | None = None, moment: datetime | None = None) -> Rules:
    """What decides the free times now: hours, exceptions and limits from the database."""
    limits = limits or settings()
    studio = zone()
    today = (moment or now()).astimezone(studio).date()
    weekly, days_off, extra = _calendar(limits, today)
    return Rules(
        zone=studio,
        weekly=weekly,
        step=timedelta(minutes=limits.step_minutes),
        buffer=timedelta(minutes=limits.buffer_minutes),
        notice=timedelta(hours=limits.notice_hours),
        window=timedelta(days=limits.window_days),
        max_per_day=limits.max_per_day,
        days_off=days_off,
        extra=extra,
    )


# ---------------------------------------------------------------- an order's call


def _call_minutes(order: Order):
    """The statement of the order's call length in minutes (see ``call_length``)."""
    return (
        select(func.max(func.coalesce(Offer.call_minutes, CALL_MINUTES_DEFAULT)))
        .select_from(OrderLine)
        .outerjoin(Offer, Offer.id == OrderLine.offer_id)
        .where(OrderLine.order_id == order.id)
    )


def call_length(order: Order) -> timedelta:
    """How long the order's call is: as long as its longest offer's (offers no longer in the
    catalogue count with the default length)."""
    minutes = db.session.scalar(_call_minutes(order))
    return timedelta(minutes=minutes or CALL_MINUTES_DEFAULT)


def settings_and_length(order: Order) -> tuple[CallSettings, timedelta]:
    """The limits row (read afresh) and the order's call length, in one round trip."""
    row = db.session.execute(
        select(CallSettings, _call_minutes(order).scalar_subquery())
        .where(CallSettings.id == 1)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        return settings(), call_length(order)
    limits, minutes = row
    return limits, timedelta(minutes=minutes or CALL_MINUTES_DEFAULT)


def booked_call(order: Order) -> Call | None:
    """The order's booked call, if it has one."""
    return db.session.scalar(
        select(Call).where(Call.order_id == order.id, Call.status == CallStatus.BOOKED)
    )


def latest_call(order: Order) -> Call | None:
    """The order's most recent call, booked or cancelled."""
    return db.session.scalar(
        select(Call).where(Call.order_id == order.id).order_by(Call.id.desc()).limit(1)
    )


def find_call(uid: str) -> Call | None:
    return db.session.scalar(select(Call).where(Call.uid == uid)) if uid else None


def may_book(order: Order) -> bool:
    """Whether the order's buyer may book its call now: placed or paid, no call booked."""
    return order.status in BOOKABLE and booked_call(order) is None


def may_change(call: Call, limits: CallSettings | None = None, moment=None) -> bool:
    """Whether the buyer may still move or cancel ``call``: booked, and the cut-off before it
    not reached."""
    limits = limits or settings()
    cutoff = as_utc(call.starts_at) - timedelta(hours=limits.cutoff_hours)
    return call.status == CallStatus.BOOKED and (moment or now()) < cutoff


def busy_times(start: datetime, until: datetime, *, excluding: int | None = None) -> list[Busy]:
    """The booked calls keeping the studio busy between ``start`` and ``until`` (UTC),
    leaving out the call ``excluding`` (the one being moved)."""
    return [busy for call_id, busy in _busy_rows(start, until) if call_id != excluding]


def _busy_rows(start: datetime, until: datetime | None) -> list[tuple[int, Busy]]:
    """(id, busy time) of the booked calls busy after ``start`` (and before ``until``)."""
    sqlite = is_sqlite(db.engine)
    columns = (Call.starts_at, Call.blocked_until)
    if sqlite:
        # SQLite keeps instants as text; SQLAlchemy's reader parses each with a regular
        # expression, which for 500 calls is most of a listing's time. The text is ISO 8601
        # in UTC: datetime.fromisoformat reads it many times faster.
        columns = tuple(type_coerce(column, String) for column in columns)
    query = select(Call.id, *columns).where(
        Call.status == CallStatus.BOOKED, Call.blocked_until > start
    )
    if until is not None:
        query = query.where(Call.starts_at < until)
    rows = db.session.execute(query)
    if sqlite:
        return [(id_, Busy(_from_text(begin), _from_text(end))) for id_, begin, end in rows]
    return [(id_, Busy(as_utc(begin), as_utc(end))) for id_, begin, end in rows]


def _from_text(stamp: str) -> datetime:
    # The offset read with the text: several times faster than .replace(tzinfo=UTC) after.
    return datetime.fromisoformat(stamp + "+00:00")


# The booked calls as last read, per database, zone and calls_version (a new token in the
# transaction of every booking, move and cancellation): listing the free times then reads
# the limits row and not every call. Bookings never use it: they read the calls afresh
# under the booking lock.
_BUSY: dict[tuple[str, str, str], tuple[datetime, list[tuple[int, Busy]], BusyTimes]] = {}


def _booked(limits: CallSettings, moment: datetime, studio: ZoneInfo):
    """The booked calls (id, busy time) that end after a day before ``moment``, and their
    BusyTimes: read once per version of the calls."""
    key = (str(db.engine.url), studio.key, limits.calls_version)
    found = _BUSY.get(key)
    if found is None or found[0] > moment - timedelta(days=1):
        since = moment - timedelta(days=1)
        rows = _busy_rows(since, None)
        found = (since, rows, BusyTimes([busy for _, busy in rows], studio))
        if len(_BUSY) > 64:
            _BUSY.clear()
        _BUSY[key] = found
    return found


def forget_busy_times() -> None:
    """Drop this process's cached busy times (benchmarks: the cost after a change)."""
    _BUSY.clear()


def free_times(
    order: Order, *, moving: Call | None = None, moment: datetime | None = None
) -> list[datetime]:
    """The starts (UTC) the order's call can be booked at now (or moved to)."""
    moment = moment or now()
    limits, length = settings_and_length(order)
    current = rules(limits, moment=moment)
    _, rows, times = _booked(limits, moment, current.zone)
    if moving is not None:
        times = BusyTimes([busy for call_id, busy in rows if call_id != moving.id], current.zone)
    return free_slots(current, length, times, moment)


def parse_start(value: str | None) -> datetime | None:
    """A start as the picker sends it (ISO 8601 with an offset, e.g. 2027-03-29T07:00:00Z);
    None for anything else."""
    if not value or len(value) > 40:
        return None
    try:
        start = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if start.tzinfo is None or start.second or start.microsecond:
        return None
    return as_utc(start)


def parse_zone(value: str | None) -> ZoneInfo | None:
    return zone_named(value) if value else None


def as_utc(moment: datetime) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite returns them naive)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass(frozen=True)
class Change:
    """What a booking, move or cancellation did, for its mail."""

    call: Call
    kind: str  # "booked", "moved", "cancelled"
    previous_start: datetime | None = None


def _calls_changed() -> None:
    """A new calls_version in the current write transaction (a call was booked, moved or
    cancelled): every process's cached busy times are then read again."""
    db.session.execute(
        update(CallSettings)
        .where(CallSettings.id == 1)
        .values(calls_version=secrets.token_hex(16))
        .execution_options(synchronize_session=False)
    )


def _lock() -> None:
    """Take the booking lock inside the current write transaction (see the module's
    docstring): on SQLite the ``BEGIN IMMEDIATE`` already holds it."""
    if not is_sqlite(db.engine):
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BOOKING_LOCK})


def _check_time(
    order: Order, start: datetime, moment: datetime, moving: Call | None, limits: CallSettings
) -> Rules:
    current = rules(limits, moment=moment)
    length = call_length(order)
    busy = busy_times(
        start - timedelta(days=2),
        start + length + current.buffer + timedelta(days=2),
        excluding=moving.id if moving else None,
    )
    reason = refusal(current, length, busy, moment, start)
    if reason is not None:
        raise _refused(reason)
    return current


def _integrity(error: IntegrityError) -> CallError:
    text_ = str(error.orig)
    if "ux_calls_booked_order" in text_ or "calls.order_id" in text_:
        return CallError(ErrorKind.CONFLICT, "This order's call is already booked.")
    return _refused(Refusal.TAKEN)


def _order_event(
    order: Order,
    moment: datetime,
    actor: str,
    to: str | None,
    note: str,
    user_id: int | None = None,
) -> None:
    db.session.add(
        OrderEvent(
            order_id=order.id,
            created_at=moment,
            actor=actor,
            user_id=user_id,
            from_status=order.status if to else None,
            to_status=to,
            note=note,
        )
    )


def book(order: Order, start: datetime, buyer_zone: str) -> Change:
    """Book the order's call at ``start`` (UTC): the order becomes "call scheduled"."""
    moment = now()
    order_id = order.id
    # Read (and, were it missing, written) before the booking's transaction: a write inside
    # it would commit it early and give up the lock.
    limits = settings()
    try:
        with write_transaction():
            _lock()
            status = db.session.scalar(select(Order.status).where(Order.id == order_id))
            if status not in BOOKABLE:
                if status == OrderStatus.CALL_SCHEDULED:
                    raise CallError(ErrorKind.CONFLICT, "This order's call is already booked.")
                raise CallError(
                    ErrorKind.CONFLICT, "A call can be booked once the order is placed or paid."
                )
            if booked_call(order) is not None:
                raise CallError(ErrorKind.CONFLICT, "This order's call is already booked.")
            current = _check_time(order, start, moment, None, limits)
            length = call_length(order)
            call = Call(
                uid=f"call-{secrets.token_hex(12)}@{_uid_domain()}",
                order_id=order_id,
                status=CallStatus.BOOKED,
                starts_at=start,
                ends_at=start + length,
                blocked_until=start + length + current.buffer,
                sequence=0,
                buyer_zone=buyer_zone,
                order_status_before=status,
                created_at=moment,
                updated_at=moment,
            )
            db.session.add(call)
            _order_event(
                order,
                moment,
                "buyer",
                OrderStatus.CALL_SCHEDULED,
                f"Call booked for {start:%Y-%m-%d %H:%M} UTC",
            )
            db.session.execute(
                update(Order)
                .where(Order.id == order_id)
                .values(status=OrderStatus.CALL_SCHEDULED, updated_at=moment)
                .execution_options(synchronize_session="fetch")
            )
            _calls_changed()
            db.session.flush()
    except IntegrityError as error:
        raise _integrity(error) from None
    db.session.refresh(order)
    log.info("order %s: call booked for %s", order.reference, start.isoformat())
    return Change(call, "booked")


def move(
    call: Call,
    start: datetime,
    *,
    actor: str = "buyer",
    buyer_zone: str | None = None,
    user_id: int | None = None,
) -> Change:
    """Move a booked call to ``start``: the same call (its UID), a higher sequence."""
    moment = now()
    limits = settings()
    call_id, order = call.id, call.order
    previous = as_utc(call.starts_at)
    try:
        with write_transaction():
            fresh = _locked_booked(
                call_id, actor, limits, moment, "This call was cancelled: book a new one."
            )
            if as_utc(fresh.starts_at) != previous:
                raise CallError(ErrorKind.CONFLICT, "This call was moved meanwhile: look again.")
            if start == previous:
                raise CallError(ErrorKind.INVALID, "The call is at that time already.")
            current = _check_time(order, start, moment, fresh, limits)
            length = fresh.ends_at - fresh.starts_at
            fresh.starts_at = start
            fresh.ends_at = start + length
            fresh.blocked_until = start + length + current.buffer
            fresh.sequence += 1
            fresh.reminded_at = None
            fresh.updated_at = moment
            if buyer_zone:
                fresh.buyer_zone = buyer_zone
            _order_event(
                order, moment, actor, None, f"Call moved to {start:%Y-%m-%d %H:%M} UTC", user_id
            )
            _calls_changed()
            db.session.flush()
    except IntegrityError as error:
        raise _integrity(error) from None
    log.info("order %s: call moved to %s by %s", order.reference, start.isoformat(), actor)
    return Change(fresh, "moved", previous)


def cancel(call: Call, *, actor: str = "buyer", user_id: int | None = None) -> Change:
    """Cancel a booked call: the order goes back to its status before the booking (if it is
    still "call scheduled")."""
    moment = now()
    limits = settings()
    call_id, order = call.id, call.order
    with write_transaction():
        fresh = _locked_booked(call_id, actor, limits, moment, "This call is cancelled already.")
        fresh.status = CallStatus.CANCELLED
        fresh.sequence += 1
        fresh.cancelled_at = moment
        fresh.updated_at = moment
        _calls_changed()
        back = fresh.order_status_before
        current = db.session.scalar(select(Order.status).where(Order.id == order.id))
        if current == OrderStatus.CALL_SCHEDULED:
            _order_event(order, moment, actor, back, "Call cancelled", user_id)
            db.session.execute(
                update(Order)
                .where(Order.id == order.id, Order.status == OrderStatus.CALL_SCHEDULED)
                .values(status=back, updated_at=moment)
                .execution_options(synchronize_session="fetch")
            )
        else:
            _order_event(order, moment, actor, None, "Call cancelled", user_id)
    db.session.refresh(order)
    log.info("order %s: call cancelled by %s", order.reference, actor)
    return Change(fresh, "cancelled")


def _locked_booked(
    call_id: int, actor: str, limits: CallSettings, moment: datetime, cancelled: str
) -> Call:
    """Under the booking lock, the call read afresh: refused (``cancelled`` says how) unless
    it is still booked, and for its buyer unless the cut-off before it is still ahead."""
    _lock()
    fresh = db.session.scalar(
        select(Call).where(Call.id == call_id).execution_options(populate_existing=True)
    )
    if fresh is None or fresh.status != CallStatus.BOOKED:
        raise CallError(ErrorKind.CONFLICT, cancelled)
    if actor == "buyer" and not may_change(fresh, limits, moment):
        raise CallError(ErrorKind.CONFLICT, _too_late(limits))
    return fresh


def _too_late(limits: CallSettings) -> str:
    return (
        f"The call can be moved or cancelled up to {limits.cutoff_hours} hours before it; "
        "write to the studio to change it now."
    )


def _uid_domain() -> str:
    sender = parseaddr(str(current_app.config.get("MAIL_FROM") or ""))[1]
    return sender.rpartition("@")[2] or "edge-goods.shop"


# ---------------------------------------------------------------- lists


def upcoming(moment: datetime | None = None, days: int | None = None) -> list[Call]:
    """Booked calls from now on (within ``days`` when given), earliest first."""
    moment = moment or now()
    query = (
        select(Call)
        .where(Call.status == CallStatus.BOOKED, Call.ends_at > moment)
        .order_by(Call.starts_at)
    )
    if days is not None:
        query = query.where(Call.starts_at < moment + timedelta(days=days))
    return list(db.session.scalars(query))


def booked_calls() -> list[Call]:
    """Every call for the calendar feed: booked ones, and cancelled ones of the last 30 days
    (so calendars that saw them learn they are off)."""
    since = now() - timedelta(days=30)
    return list(
        db.session.scalars(
            select(Call)
            .where((Call.status == CallStatus.BOOKED) | (Call.updated_at > since))
            .order_by(Call.starts_at)
        )
    )


# ---------------------------------------------------------------- reminders


def due_reminders(moment: datetime | None = None) -> list[Call]:
    """Booked calls starting within a day that have had no reminder yet."""
    moment = moment or now()
    return list(
        db.session.scalars(
            select(Call)
            .where(
                Call.status == CallStatus.BOOKED,
                Call.reminded_at.is_(None),
                Call.starts_at > moment,
                Call.starts_at <= moment + timedelta(days=1),
            )
            .order_by(Call.starts_at)
        )
    )


def claim_reminder(call: Call, moment: datetime) -> bool:
    """Mark the reminder of ``call`` as sent, once: True only for the run that marked it
    (one conditional UPDATE, so two cron runs at once never both send it)."""
    with write_transaction():
        changed = db.session.execute(
            update(Call)
            .where(Call.id == call.id, Call.reminded_at.is_(None), Call.status == CallStatus.BOOKED)
            .values(reminded_at=moment)
            .execution_options(synchronize_session=False)
        ).rowcount
    return bool(changed)


# ---------------------------------------------------------------- the studio's settings


def save_hours(weekly: dict[int, Iterable[tuple[int, int]]]) -> None:
    """Replace the weekly hours (validated by the form)."""
    with write_transaction():
        _changed_calendar()
        db.session.execute(StudioHours.__table__.delete())
        for weekday, ranges in weekly.items():
            for start, end in ranges:
                db.session.add(StudioHours(weekday=weekday, start_minute=start, end_minute=end))


def add_exception(day: date, start: int | None, end: int | None) -> StudioDay:
    with write_transaction():
        _changed_calendar()
        row = StudioDay(day=day, start_minute=start, end_minute=end)
        db.session.add(row)
    return row


def remove_exception(exception_id: int) -> bool:
    with write_transaction():
        _changed_calendar()
        removed = db.session.execute(
            StudioDay.__table__.delete().where(StudioDay.id == exception_id)
        ).rowcount
    return bool(removed)


def save_limits(**values: int) -> CallSettings:
    row = settings()
    with write_transaction():
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now()
    return row


def rotate_feed_secret() -> str:
    """A new secret for the calendar feed's address: the old address stops working."""
    row = settings()
    with write_transaction():
        row.feed_secret = secrets.token_urlsafe(32)
        row.updated_at = now()
    return row.feed_secret


def feed_secret_matches(secret: str) -> bool:
    # compare_digest refuses text that is not ASCII (TypeError): such a secret is no match.
    return (
        bool(secret)
        and secret.isascii()
        and secrets.compare_digest(settings().feed_secret, secret[:64])
    )
