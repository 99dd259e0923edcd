"""Calendar files of the scoping calls (RFC 5545), written with the icalendar library.

One event per call, its UID stable for the call's whole life and its SEQUENCE raised with
every change, so a calendar app that holds the event updates it (a move) or removes it (a
cancellation) rather than adding a second one. A mail's invitation carries METHOD:REQUEST
(or METHOD:CANCEL); the download and the studio's feed are published calendars (no method:
a feed is a subscription, not an invitation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from shop.calls.models import Call, CallStatus
from shop.orders.models import Order

PRODID = "-//Edge goods//Scoping calls//EN"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def context_lines(order: Order, labels: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The buyer and the context they gave at checkout, one line each."""
    hosting = labels["hosting"].get(order.hosting, order.hosting)
    if order.hosting_other:
        hosting += f": {order.hosting_other}"
    unit = labels["traffic_unit"].get(order.traffic_unit, order.traffic_unit)
    compliance = ", ".join(labels["compliance"].get(key, key) for key in order.compliance) or "-"
    if order.compliance_notes:
        compliance += f". {order.compliance_notes}"
    cloudflare = ", ".join(labels["cloudflare"].get(key, key) for key in order.cloudflare) or "-"
    lines = [f"Order: {order.reference}", f"Buyer: {order.name} <{order.email}>"]
    if order.company:
        lines.append(f"Company: {order.company}")
    if order.role:
        lines.append(f"Role: {order.role}")
    offers = ", ".join(f"{line.quantity} × {line.title}" for line in order.lines)
    lines += [
        f"Offers: {offers}",
        f"Current hosting: {hosting}",
        f"Expected traffic: {order.traffic_amount:,} {unit}",
        f"Stateful workflows: {order.stateful or '-'}",
        f"File handling: {order.files or '-'}",
        f"Compliance: {compliance}",
        f"Cloudflare in use: {cloudflare}",
        f"Anything else: {order.notes or '-'}",
    ]
    return lines


def event(
    call: Call,
    *,
    summary: str,
    description: str,
    organizer: str,
    stamp: datetime,
    url: str | None = None,
) -> Event:
    """The call as a calendar event: the buyer as attendee, the studio as organizer."""
    item = Event()
    item.add("uid", call.uid)
    item.add("dtstamp", _utc(stamp))
    item.add("dtstart", _utc(call.starts_at))
    item.add("dtend", _utc(call.ends_at))
    item.add("sequence", call.sequence)
    item.add("summary", summary)
    item.add("description", description)
    item.add("status", "CANCELLED" if call.status == CallStatus.CANCELLED else "CONFIRMED")
    item.add("transp", "OPAQUE")
    if url:
        item.add("url", url)
    studio = vCalAddress(f"mailto:{organizer}")
    studio.params["cn"] = vText("Edge goods")
    item.add("organizer", studio)
    buyer = vCalAddress(f"mailto:{call.order.email}")
    buyer.params["cn"] = vText(call.order.name)
    buyer.params["role"] = vText("REQ-PARTICIPANT")
    buyer.params["partstat"] = vText("ACCEPTED")
    item.add("attendee", buyer)
    return item


def calendar(
    events: Iterable[Event], *, method: str | None = None, name: str | None = None
) -> bytes:
    """A VCALENDAR of ``events``: with ``method`` for an invitation (REQUEST, CANCEL), with
    ``name`` for a feed."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("x-wr-calname", name)
    for item in events:
        cal.add_component(item)
    return cal.to_ical()
