"""The buyer's scoping call: the page of an order's call (book, see, move, cancel) and its
calendar file.

Only whoever may see the order (``orders.views.may_view``: its customer, the visit that
placed it, or its link's key) reaches these pages; anyone else gets the order page's 404.
Times are shown in the buyer's zone: the ``zone`` parameter (the browser's own, sent by
``static/js/calls.js``, or chosen from the list), else the studio's. Every change is a plain
form (POST, then 303 to the call's page); with htmx the zone list redraws the times in place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, make_response, redirect, request, url_for

from shop.calls import mails, services
from shop.calls.models import Call
from shop.calls.services import CallError, as_utc
from shop.calls.slots import Refusal, by_day
from shop.calls.zones import listed_zones
from shop.domain import ErrorKind
from shop.orders.models import Order, OrderStatus
from shop.orders.services import access_key, get_order, key_matches, status_changed
from shop.orders.views import may_view
from shop.urls import absolute_url
from shop.web import ERROR_STATUS, render_page, wants_fragment

bp = Blueprint("calls", __name__)
PAGE = "calls/call.html"
BLOCKS = ["times", "times_status"]


@status_changed.connect
def _order_cancelled(order: Order, *, to: str, user_id: int | None = None, **_extra) -> None:
    """An order an administrator cancels keeps no call: it is cancelled too, and the buyer's
    calendar gets the cancellation."""
    if to != OrderStatus.CANCELLED:
        return
    call = services.booked_call(order)
    if call is None:
        return
    try:
        change = services.cancel(call, actor="admin", user_id=user_id)
    except CallError:
        return  # cancelled meanwhile
    mails.send_change(change, actor="admin")


@bp.record_once
def _globals(state) -> None:
    # The order page and the order mail link to the call's page (orders knows nothing of
    # calls: it asks for these only when they are there).
    state.app.jinja_env.globals["call_of_order"] = _call_summary
    state.app.jinja_env.globals["call_link"] = _call_link


def _call_link(order: Order, key: str | None = None, *, external: bool = False) -> str:
    """The order's call page: with its link's key for mail (absolute) or when given."""
    if external:
        return absolute_url(
            "calls.show", reference=order.reference, key=access_key(order.reference)
        )
    values = {"key": key} if key else {}
    return url_for("calls.show", reference=order.reference, **values)


def _call_summary(order: Order) -> dict[str, Any]:
    """What the order page says of the call: booked (when, in both zones), or bookable."""
    call = services.booked_call(order)
    if call is not None:
        return {"call": call, "may_book": False, **_times_of(call)}
    return {"call": None, "may_book": order.status in services.BOOKABLE}


def _times_of(call: Call) -> dict[str, datetime]:
    return mails.times(call)


def _order_or_404(reference: str) -> tuple[Order, str | None]:
    key = request.values.get("key")
    order = get_order(reference)
    if order is None or not may_view(order, key):
        abort(404, description="There is no order at this address.")
    return order, key if key_matches(order.reference, key) else None


ZONE_ERROR = "That time zone is not one we know. Times are shown in the studio's."


def _zone_refused() -> bool:
    """Whether the request names a zone that is none."""
    asked = request.values.get("zone")
    return bool(asked) and services.parse_zone(asked) is None


def _zone() -> tuple[ZoneInfo, bool]:
    """The zone asked for (valid), else the studio's; and whether one was asked for."""
    asked = request.values.get("zone")
    zone = services.parse_zone(asked)
    return (zone or services.zone()), zone is not None


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _page(
    order: Order,
    key: str | None,
    *,
    status: int = 200,
    error: str | None = None,
    chosen: str | None = None,
    moving: bool = False,
) -> Response:
    zone, _ = _zone()
    if _zone_refused():
        error = error or ZONE_ERROR
        status = max(status, 400)
    call = services.booked_call(order)
    limits = services.settings()
    showing_times = (call is None and order.status in services.BOOKABLE) or (
        call is not None and moving and services.may_change(call, limits)
    )
    days = []
    if showing_times:
        free = services.free_times(order, moving=call if moving else None)
        days = by_day(free, zone)
    context: dict[str, Any] = {
        "order": order,
        "key": key,
        "call": call,
        "latest": services.latest_call(order) if call is None else call,
        "days": days,
        "showing_times": showing_times,
        "zone": zone,
        "zones": listed_zones(),
        "studio_zone": services.zone(),
        "error": error,
        "chosen": chosen,
        "moving": moving and call is not None,
        "may_change": call is not None and services.may_change(call, limits),
        "cutoff_hours": limits.cutoff_hours,
        "bookable": order.status in services.BOOKABLE,
        "as_utc": as_utc,
        "call_minutes": int(services.call_length(order).total_seconds() // 60),
        "fragment": wants_fragment(),
    }
    if call is not None:
        context.update(_times_of(call))
    return _private(render_page(PAGE, BLOCKS, status, **context))


@bp.get("/orders/<reference>/call")
def show(reference: str) -> Response:
    """The call's page: the free times to book (or move to), or the call booked."""
    order, key = _order_or_404(reference)
    return _page(order, key, moving=request.args.get("move") == "1")


def _redirect_to_call(order: Order, key: str | None, zone: str | None) -> Response:
    values = {"reference": order.reference}
    if key:
        values["key"] = key
    if zone:
        values["zone"] = zone
    return redirect(url_for("calls.show", **values) + "#call", 303)


def _when(call: Call, zone: ZoneInfo) -> str:
    start = as_utc(call.starts_at).astimezone(zone)
    return f"{start:%A %-d %B %Y, %H:%M} ({zone.key})"


def _refused(order: Order, key: str | None, error: CallError, chosen: str | None, moving: bool):
    status = ERROR_STATUS[error.kind]
    if error.refusal in (Refusal.MALFORMED,):
        status = 400
    return _page(order, key, status=status, error=error.message, chosen=chosen, moving=moving)


def _chosen(order: Order, key: str | None, moving: bool) -> tuple[str | None, Any]:
    """The time the form chose (as sent) and its instant, or the page refusing the form: a
    zone that is none (400), no time (422), a time that is none (400)."""
    chosen = request.form.get("start")
    start = services.parse_start(chosen)
    if _zone_refused():
        return chosen, _page(order, key, status=400, error=ZONE_ERROR, moving=moving)
    if start is None:
        if chosen:
            message, status = services.REFUSALS[Refusal.MALFORMED], 400
        else:
            message, status = "Choose one of the times below.", 422
        return chosen, _page(order, key, status=status, error=message, moving=moving)
    return chosen, start


@bp.post("/orders/<reference>/call")
def book(reference: str) -> Response:
    """Book the time chosen; a time just taken answers 409 with the fresh free times."""
    order, key = _order_or_404(reference)
    zone, _ = _zone()
    chosen, start = _chosen(order, key, moving=False)
    if not isinstance(start, datetime):
        return start
    try:
        change = services.book(order, start, zone.key)
    except CallError as error:
        booked = services.booked_call(order)
        if booked is not None and as_utc(booked.starts_at) == start:
            return _redirect_to_call(order, key, request.values.get("zone"))  # a double click
        return _refused(order, key, error, chosen, moving=False)
    mails.send_change(change)
    flash(f"Your call is booked for {_when(change.call, zone)}. A confirmation is on its way.")
    return _redirect_to_call(order, key, request.values.get("zone"))


@bp.post("/orders/<reference>/call/move")
def move(reference: str) -> Response:
    """Move the booked call to the time chosen (its buyer, up to the cut-off)."""
    order, key = _order_or_404(reference)
    zone, _ = _zone()
    call = services.booked_call(order)
    if call is None:
        return _page(order, key, status=409, error="There is no booked call to move.")
    chosen, start = _chosen(order, key, moving=True)
    if not isinstance(start, datetime):
        return start
    try:
        change = services.move(call, start, buyer_zone=zone.key)
    except CallError as error:
        if as_utc(call.starts_at) == start and error.kind == ErrorKind.INVALID:
            return _redirect_to_call(order, key, request.values.get("zone"))  # a double click
        return _refused(order, key, error, chosen, moving=True)
    mails.send_change(change)
    flash(
        f"Your call has moved to {_when(change.call, zone)}. An updated invitation is on its way."
    )
    return _redirect_to_call(order, key, request.values.get("zone"))


@bp.post("/orders/<reference>/call/cancel")
def cancel(reference: str) -> Response:
    order, key = _order_or_404(reference)
    call = services.booked_call(order)
    if call is None:
        return _page(order, key, status=409, error="The call is cancelled already.")
    try:
        change = services.cancel(call)
    except CallError as error:
        return _page(order, key, status=ERROR_STATUS[error.kind], error=error.message)
    mails.send_change(change)
    flash("Your call is cancelled. You can book a new time below whenever you are ready.")
    return _redirect_to_call(order, key, request.values.get("zone"))


@bp.get("/orders/<reference>/call.ics")
def calendar_file(reference: str) -> Response:
    """The booked call as a calendar file to add to any calendar app."""
    order, _ = _order_or_404(reference)
    call = services.booked_call(order)
    if call is None:
        abort(404, description="This order has no booked call.")
    response = make_response(mails.invitation(call))
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="scoping-call-{order.reference}.ics"'
    )
    return _private(response)
