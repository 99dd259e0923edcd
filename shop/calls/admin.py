"""The studio's side of the scoping calls: the agenda of upcoming calls (moved or cancelled
from there, the buyer told by mail), the weekly hours, the dated exceptions and the limits,
and the calendar feed at its secret address.

Every page is for administrators only (``admin_required``), except the feed, whose secret
address is its only key: a wrong secret is a 404 like any unknown address, and rotating the
secret makes the old address one. Forms are plain (POST, then 303); a refused form answers
the page again with the message in place and what was typed kept, and saves nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from shop.accounts.views import admin_required
from shop.calls import ics, mails, services
from shop.calls.models import Call, CallStatus
from shop.calls.services import CallError, as_utc
from shop.calls.slots import Refusal, by_day
from shop.clock import now
from shop.extensions import db
from shop.orders.choices import LABELS
from shop.orders.models import STATUS_LABELS, Order
from shop.urls import absolute_url
from shop.web import ERROR_STATUS

bp = Blueprint("calls_admin", __name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_RANGES = 6
HOURS_LIMIT = 200  # characters of one weekday's field: six ranges need less than half
FEED_NAME = "Edge goods scoping calls"
WAITING_LIMIT = 50  # orders shown that may book a call and have not
# How far ahead a dated exception may be set: the booking window is at most a year.
EXCEPTION_HORIZON = timedelta(days=2 * 365)
RANGE_FORMAT = "Write the hours as ranges such as 09:00-12:00, 13:00-17:00 (24-hour clock)."

_TIME_RE = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_RANGE_RE = re.compile(r"([0-9]{1,2}:[0-9]{2})\s*[-–—]\s*([0-9]{1,2}:[0-9]{2})")
_NUMBER_RE = re.compile(r"[0-9]{1,6}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Limit:
    """One of the studio's limits (a column of ``CallSettings``) as the form shows it."""

    name: str
    label: str
    low: int
    high: int
    unit: str
    hint: str


LIMITS = (
    Limit("step_minutes", "Calls start every", 5, 240, "minutes", "The grid of start times."),
    Limit("buffer_minutes", "Free time after each call", 0, 240, "minutes", ""),
    Limit("notice_hours", "Minimum notice", 0, 2160, "hours", "How soon a call can be booked."),
    Limit("window_days", "Bookable ahead", 1, 365, "days", "How far ahead a call can be booked."),
    Limit("max_per_day", "Calls a day at most", 1, 48, "calls", ""),
    Limit(
        "cutoff_hours",
        "Buyer's cut-off",
        0,
        720,
        "hours",
        "A buyer moves or cancels the call up to this long before it.",
    ),
)


# ---------------------------------------------------------------- helpers


def _render(template: str, status: int = 200, **context: Any) -> Response:
    """An admin page: buyers' details, so never kept by a cache."""
    context.update(
        as_utc=as_utc,
        status_labels=STATUS_LABELS,
        studio_zone=services.zone(),
        clock=clock_text,
        minutes_text=minutes_text,
    )
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def clock_text(minute: int) -> str:
    """Minutes after midnight as a wall-clock time: 540 → "09:00", 1440 → "24:00"."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def minutes_text(minutes: int) -> str:
    """A call's length in words: "1 h", "1 h 30 min", "45 min"."""
    hours, rest = divmod(minutes, 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" + (f" {rest} min" if rest else "")


def ranges_text(ranges: tuple[tuple[int, int], ...] | list[tuple[int, int]]) -> str:
    return ", ".join(f"{clock_text(start)}-{clock_text(end)}" for start, end in ranges)


def _minute(value: str, *, end: bool) -> int | None:
    """A wall-clock time "HH:MM" as minutes after midnight; "24:00" only as an end."""
    found = _TIME_RE.fullmatch(value.strip())
    if not found:
        return None
    hour, minute = int(found[1]), int(found[2])
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
        return None
    return hour * 60 + minute


def parse_range(start_text: str, end_text: str) -> tuple[tuple[int, int] | None, str | None]:
    """One range from its two times, or why it is refused."""
    start, end = _minute(start_text, end=False), _minute(end_text, end=True)
    if start is None or end is None:
        return None, "Write each time as HH:MM on the 24-hour clock, from 00:00 to 24:00."
    if start >= end:
        return None, (
            f"A range must end after it starts: {start_text.strip()}-{end_text.strip()} does not."
        )
    return (start, end), None


def parse_ranges(text: str) -> tuple[list[tuple[int, int]], str | None]:
    """A weekday's field ("09:00-12:00, 13:00-17:00"; empty is closed) as sorted ranges,
    or why it is refused."""
    if len(text) > HOURS_LIMIT:
        return [], f"Use at most {HOURS_LIMIT} characters for a day's hours."
    text = text.strip()
    if not text:
        return [], None
    parts = [part.strip() for part in re.split(r"[,;]", text)]
    if any(not part for part in parts):
        return [], RANGE_FORMAT
    if len(parts) > MAX_RANGES:
        return [], f"Use at most {MAX_RANGES} ranges a day."
    ranges = []
    for part in parts:
        found = _RANGE_RE.fullmatch(part)
        if not found:
            return [], RANGE_FORMAT
        span, problem = parse_range(found[1], found[2])
        if problem:
            return [], problem
        ranges.append(span)
    ranges.sort()
    for (_, before_end), (start, _) in zip(ranges, ranges[1:], strict=False):
        if start < before_end:
            return [], (
                f"The ranges overlap at {clock_text(start)}: "
                "make each range end before the next one starts."
            )
    return ranges, None


def _studio_today() -> date:
    return now().astimezone(services.zone()).date()


def _call_or_404(call_id: int) -> Call:
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404, description="There is no such call.")
    return call


def _when(call: Call) -> str:
    start = as_utc(call.starts_at).astimezone(services.zone())
    return f"{start:%A %-d %B %Y, %H:%M} ({services.zone().key})"


# ---------------------------------------------------------------- the agenda


def _waiting_orders() -> list[Order]:
    """Orders whose buyer may book the call and has not yet (newest first)."""
    return list(
        db.session.scalars(
            select(Order)
            .options(lazyload(Order.lines))
            .where(Order.status.in_(services.BOOKABLE))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(WAITING_LIMIT)
        )
    )


def _agenda(status: int = 200, error: str | None = None) -> Response:
    studio = services.zone()
    days: dict[date, list[dict[str, Any]]] = {}
    for call in services.upcoming():
        start = as_utc(call.starts_at)
        end = as_utc(call.ends_at)
        days.setdefault(start.astimezone(studio).date(), []).append(
            {
                "call": call,
                "order": call.order,
                "start": start.astimezone(studio),
                "end": end.astimezone(studio),
                "minutes": int((end - start).total_seconds() // 60),
                **mails.times(call),
            }
        )
    return _render(
        "admin/calls.html",
        status,
        days=list(days.items()),
        error=error,
        feed_url=absolute_url("calls_admin.feed", secret=services.settings().feed_secret),
        waiting=_waiting_orders(),
    )


@bp.get("/admin/calls")
@admin_required
def agenda() -> Response:
    """The upcoming calls day by day in the studio's zone, with each buyer's context."""
    return _agenda()


@bp.post("/admin/calls/<int:call_id>/cancel")
@admin_required
def cancel(call_id: int) -> Response:
    """Cancel a call (the buyer gets a mail with the cancellation); no cut-off for the
    studio."""
    call = _call_or_404(call_id)
    reference = call.order.reference
    try:
        change = services.cancel(call, actor="admin", user_id=current_user.id)
    except CallError as error:
        return _agenda(ERROR_STATUS[error.kind], f"Order {reference}: {error.message}")
    mails.send_change(change, actor="admin")
    flash(
        f"The call of order {reference} is cancelled. The buyer is told by mail.",
        "success",
    )
    return redirect(url_for("calls_admin.agenda"), 303)


# ---------------------------------------------------------------- moving a call


def _move_page(
    call: Call, status: int = 200, error: str | None = None, chosen: str | None = None
) -> Response:
    booked = call.status == CallStatus.BOOKED
    days = []
    start = as_utc(call.starts_at)
    if booked:
        free = services.free_times(call.order, moving=call)
        days = by_day([moment for moment in free if moment != start], services.zone())
    return _render(
        "admin/call_move.html",
        status,
        call=call,
        order=call.order,
        booked=booked,
        days=days,
        error=error,
        chosen=chosen,
        minutes=int((as_utc(call.ends_at) - start).total_seconds() // 60),
        start=start.astimezone(services.zone()),
        **mails.times(call),
    )


@bp.route("/admin/calls/<int:call_id>/move", methods=["GET", "POST"])
@admin_required
def move(call_id: int) -> Response:
    """The free times to move the call to (the studio's zone); the move mails the buyer."""
    call = _call_or_404(call_id)
    if request.method == "GET":
        if call.status != CallStatus.BOOKED:
            return _move_page(call, 409, "This call is cancelled: there is nothing to move.")
        return _move_page(call)
    chosen = request.form.get("start")
    if call.status != CallStatus.BOOKED:
        return _move_page(call, 409, "This call is cancelled: there is nothing to move.")
    start = services.parse_start(chosen)
    if start is None:
        if not chosen:
            return _move_page(call, 422, "Choose one of the times below.")
        return _move_page(call, 400, services.REFUSALS[Refusal.MALFORMED])
    try:
        change = services.move(call, start, actor="admin", user_id=current_user.id)
    except CallError as error:
        db.session.refresh(call)
        return _move_page(call, ERROR_STATUS[error.kind], error.message, chosen)
    mails.send_change(change, actor="admin")
    flash(
        f"The call of order {call.order.reference} has moved to {_when(change.call)}. "
        "The buyer is told by mail.",
        "success",
    )
    return redirect(url_for("calls_admin.agenda"), 303)


# ---------------------------------------------------------------- hours, exceptions, limits


def _hours_page(
    status: int = 200,
    *,
    hours_typed: Mapping[int, str] | None = None,
    hours_errors: Mapping[int, str] | None = None,
    limits_typed: Mapping[str, str] | None = None,
    limits_errors: Mapping[str, str] | None = None,
    exception_typed: Mapping[str, str] | None = None,
    exception_errors: Mapping[str, str] | None = None,
    error: str | None = None,
) -> Response:
    weekly = services.weekly_hours()
    stored = services.settings()
    hours = hours_typed or {day: ranges_text(weekly.get(day, ())) for day in range(7)}
    limits = limits_typed or {limit.name: str(getattr(stored, limit.name)) for limit in LIMITS}
    return _render(
        "admin/call_hours.html",
        status,
        weekdays=WEEKDAYS,
        hours=hours,
        hours_errors=hours_errors or {},
        limits=LIMITS,
        limit_values=limits,
        limits_errors=limits_errors or {},
        exceptions=services.exceptions(since=_studio_today()),
        exception=exception_typed or {"kind": "off"},
        exception_errors=exception_errors or {},
        error=error,
        hours_limit=HOURS_LIMIT,
        max_ranges=MAX_RANGES,
    )


@bp.get("/admin/calls/hours")
@admin_required
def hours() -> Response:
    """The weekly hours, the dated exceptions and the limits, each in its own form."""
    return _hours_page()


@bp.post("/admin/calls/hours")
@admin_required
def save_hours() -> Response:
    """Replace the weekly hours; any weekday refused saves none of them."""
    typed = {day: request.form.get(f"day-{day}", "") for day in range(7)}
    weekly, errors = {}, {}
    for day, text in typed.items():
        ranges, problem = parse_ranges(text)
        if problem:
            errors[day] = f"{WEEKDAYS[day]}: {problem}"
        elif ranges:
            weekly[day] = ranges
    if errors:
        return _hours_page(422, hours_typed=typed, hours_errors=errors)
    services.save_hours(weekly)
    flash("The weekly hours are saved.", "success")
    return redirect(url_for("calls_admin.hours"), 303)


@bp.post("/admin/calls/limits")
@admin_required
def save_limits() -> Response:
    """Save the limits; any one out of its range saves none of them."""
    typed = {limit.name: request.form.get(limit.name, "").strip()[:12] for limit in LIMITS}
    values, errors = {}, {}
    for limit in LIMITS:
        text = typed[limit.name]
        if not _NUMBER_RE.fullmatch(text) or not limit.low <= int(text) <= limit.high:
            errors[limit.name] = (
                f"{limit.label}: enter a whole number from {limit.low} to {limit.high} "
                f"({limit.unit})."
            )
        else:
            values[limit.name] = int(text)
    if errors:
        return _hours_page(422, limits_typed=typed, limits_errors=errors)
    services.save_limits(**values)
    flash("The limits are saved.", "success")
    return redirect(url_for("calls_admin.hours") + "#limits-title", 303)


def _exception_day(text: str) -> tuple[date | None, str | None]:
    if not text:
        return None, "Enter the date."
    try:
        day = date.fromisoformat(text) if _DATE_RE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        return None, "Enter a real date as YYYY-MM-DD, for example 2027-03-29."
    today = _studio_today()
    if day < today:
        return None, "That date has passed: choose today or a later date."
    if day > today + EXCEPTION_HORIZON:
        return None, "Choose a date within the next two years."
    return day, None


@bp.post("/admin/calls/exceptions")
@admin_required
def add_exception() -> Response:
    """Add a day off, or hours on one date."""
    typed = {
        "day": request.form.get("day", "").strip()[:20],
        "kind": request.form.get("kind", ""),
        "start": request.form.get("start", "").strip()[:10],
        "end": request.form.get("end", "").strip()[:10],
    }
    errors = {}
    day, problem = _exception_day(typed["day"])
    if problem:
        errors["day"] = problem
    span = None
    if typed["kind"] not in ("off", "hours"):
        errors["kind"] = "Choose a day off or hours on that date."
    elif typed["kind"] == "hours":
        if not typed["start"] or not typed["end"]:
            errors["start"] = "Enter when the hours start and end."
        else:
            span, problem = parse_range(typed["start"], typed["end"])
            if problem:
                errors["start"] = problem
    if errors:
        return _hours_page(422, exception_typed=typed, exception_errors=errors)
    assert day is not None
    if span is None:
        services.add_exception(day, None, None)
        flash(f"{day:%A %-d %B %Y} is a day off: no calls that day.", "success")
    else:
        services.add_exception(day, *span)
        flash(f"Hours added on {day:%A %-d %B %Y}: {ranges_text([span])}.", "success")
    return redirect(url_for("calls_admin.hours") + "#exceptions-title", 303)


@bp.post("/admin/calls/exceptions/<int:exception_id>/remove")
@admin_required
def remove_exception(exception_id: int) -> Response:
    if not services.remove_exception(exception_id):
        return _hours_page(409, error="That exception is removed already.")
    flash("The exception is removed.", "success")
    return redirect(url_for("calls_admin.hours") + "#exceptions-title", 303)


# ---------------------------------------------------------------- the calendar feed


@bp.post("/admin/calls/feed/rotate")
@admin_required
def rotate_feed() -> Response:
    """A new secret address for the feed; the old one answers 404 from now on."""
    services.rotate_feed_secret()
    flash(
        "The calendar feed has a new address; the old one no longer works. "
        "Paste the new one into your calendar app.",
        "success",
    )
    return redirect(url_for("calls_admin.agenda") + "#feed-title", 303)


@bp.get("/calls/feed/<secret>.ics")
def feed(secret: str) -> Response:
    """Every booked call (and those cancelled lately) as a calendar to subscribe to; the
    secret in the address is its only key."""
    # compare_digest refuses str with characters beyond ASCII (a TypeError, so a 500).
    if not services.feed_secret_matches(secret):
        abort(404)
    moment = now()
    organizer = mails.owner_address_email()
    events = []
    for call in services.booked_calls():
        order = call.order
        order_url = absolute_url("orders_admin.show", reference=order.reference)
        description = "\n".join([*ics.context_lines(order, LABELS), "", f"The order: {order_url}"])
        events.append(
            ics.event(
                call,
                summary=f"Scoping call: {order.reference}, {order.name}",
                description=description,
                organizer=organizer,
                stamp=moment,
                url=order_url,
            )
        )
    response = make_response(ics.calendar(events, name=FEED_NAME))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
