"""The scoping call's mail: the buyer's confirmation, move and cancellation (each with the
invitation as an ``.ics`` attachment), the studio's notification, and the reminder a day
before. Sent in the background like the order mail: a change stands whatever happens to its
mail, and a failure is logged."""

from __future__ import annotations

import logging
from datetime import datetime
from email.utils import parseaddr

from shop import mail
from shop.calls import ics
from shop.calls.models import Call
from shop.calls.services import Change, as_utc, claim_reminder, due_reminders, zone
from shop.calls.zones import zone_named
from shop.clock import now
from shop.orders.choices import LABELS
from shop.orders.notifications import owner_address
from shop.orders.services import access_key
from shop.urls import absolute_url

log = logging.getLogger(__name__)

# The invitation's method per change: a booking and a move ask the calendar to hold the
# event (the same UID, a higher SEQUENCE), a cancellation asks it to drop it.
METHODS = {"booked": "REQUEST", "moved": "REQUEST", "cancelled": "CANCEL"}
SUBJECTS = {
    "booked": "Your scoping call for order {reference} is booked",
    "moved": "Your scoping call for order {reference} has moved",
    "cancelled": "Your scoping call for order {reference} is cancelled",
}


def call_page_url(call: Call) -> str:
    """The order's call page with the key that opens it (absolute, for mail)."""
    reference = call.order.reference
    return absolute_url("calls.show", reference=reference, key=access_key(reference))


def invitation(call: Call, method: str | None = None) -> bytes:
    """The call as an .ics calendar: ``method`` REQUEST or CANCEL for mail, None for a
    download."""
    order = call.order
    description = "\n".join(
        [*ics.context_lines(order, LABELS), "", f"The order: {call_page_url(call)}"]
    )
    item = ics.event(
        call,
        summary=f"Scoping call, Edge goods order {order.reference}",
        description=description,
        organizer=owner_address_email(),
        stamp=now(),
        url=call_page_url(call),
    )
    return ics.calendar([item], method=method)


def owner_address_email() -> str:
    """The studio's address without a display name (for the calendar's ORGANIZER)."""
    return parseaddr(owner_address())[1] or "studio@localhost"


def times(call: Call) -> dict[str, datetime]:
    """The call's start in the buyer's zone and in the studio's."""
    start = as_utc(call.starts_at)
    buyer = zone_named(call.buyer_zone) or zone()
    return {"buyer_start": start.astimezone(buyer), "studio_start": start.astimezone(zone())}


def send_change(change: Change, *, actor: str = "buyer") -> None:
    """Mail the buyer (with the invitation) and the studio about a booking, move or
    cancellation."""
    call = change.call
    order = call.order
    try:
        method = METHODS[change.kind]
        context = {
            "order": order,
            "call": call,
            "kind": change.kind,
            "actor": actor,
            "link": call_page_url(call),
            "previous_start": as_utc(change.previous_start) if change.previous_start else None,
            "studio_zone": zone().key,
            **times(call),
        }
        calendar = invitation(call, method).decode()
        buyer = mail.compose(
            order.email,
            SUBJECTS[change.kind].format(reference=order.reference),
            "call_buyer",
            **context,
        )
        studio = mail.compose(
            owner_address(),
            f"Scoping call {change.kind}: order {order.reference}, {order.name}",
            "call_studio",
            **context,
        )
        studio["Reply-To"] = order.email
        for message in (buyer, studio):
            message.add_attachment(
                calendar, subtype="calendar", filename="scoping-call.ics", params={"method": method}
            )
            mail.send_later(message)
    except Exception:  # the change stands whatever happens to its mail
        log.exception("could not queue the call mail of order %s", order.reference)


def send_reminders(moment: datetime | None = None) -> int:
    """Remind the buyers of calls starting within a day, each call once however often this
    runs (the reminder is claimed by one conditional UPDATE before its mail goes)."""
    moment = moment or now()
    sent = 0
    for call in due_reminders(moment):
        if not claim_reminder(call, moment):
            continue  # another run claimed it
        order = call.order
        try:
            message = mail.compose(
                order.email,
                f"Tomorrow: your scoping call for order {order.reference}",
                "call_reminder",
                order=order,
                call=call,
                link=call_page_url(call),
                studio_zone=zone().key,
                **times(call),
            )
            mail.send(message)
            sent += 1
        except Exception:
            log.exception("could not send the reminder of order %s's call", order.reference)
    return sent
