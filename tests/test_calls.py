"""The scoping call for the buyer: booking, moving and cancelling from the order's page,
every refusal (a clear 4xx that changes nothing), the order's status, the calendar file,
the mail and the reminders. A fixed clock: a Monday morning in March 2027."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from shop.calls.models import Call
from shop.clock import moved
from shop.extensions import db
from shop.orders.models import Order
from shop.orders.services import access_key
from tests.support.forms import csrf_token
from tests.support.mailbox import outbox
from tests.support.orders import add_order, move
from tests.support.shopper import HX

# Monday 1 March 2027, 08:00 in Berlin (CET, UTC+1): 24 h of notice puts the first free
# time at Tuesday 09:00 Berlin, 08:00 UTC.
NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
FIRST = "2027-03-02T08:00:00+00:00"


@pytest.fixture
def clock():
    with moved(NOW - datetime.now(UTC)):
        yield


@pytest.fixture
def paid(app, clock) -> tuple[str, str]:
    """A paid order: its reference and its link's key."""
    reference = add_order(app, status="paid")
    return reference, key_of(app, reference)


def key_of(app, reference: str) -> str:
    with app.app_context():
        return access_key(reference)


def page(client, reference: str, key: str | None, **params):
    if key:
        params["key"] = key
    return client.get(f"/orders/{reference}/call", query_string=params)


def offered(html: str) -> list[str]:
    return re.findall(r'name="start" value="([^"]+)"', html)


def post(client, reference: str, key: str | None, action: str = "", **fields):
    form = page(client, reference, key).get_data(as_text=True)
    data = {"csrf_token": csrf_token(form), **fields}
    if key:
        data["key"] = key
    suffix = f"/{action}" if action else ""
    return client.post(f"/orders/{reference}/call{suffix}", data=data)


def book(client, reference, key, start=FIRST, zone="Europe/Berlin"):
    return post(client, reference, key, start=start, zone=zone)


def state(app, reference: str) -> tuple[str, list[tuple[str, str, int]]]:
    """The order's status and its calls (status, start in UTC, sequence)."""
    with app.app_context():
        order_id, status = db.session.execute(
            select(Order.id, Order.status).where(Order.reference == reference)
        ).one()
        calls = db.session.execute(
            select(Call.status, Call.starts_at, Call.sequence)
            .where(Call.order_id == order_id)
            .order_by(Call.id)
        ).all()
        db.session.rollback()
    return status, [
        (status, start.replace(tzinfo=UTC).isoformat(), sequence)
        for status, start, sequence in calls
    ]


def invitations(app) -> list[tuple[str, Calendar]]:
    """The .ics attachments of the mail sent: (recipient, calendar)."""
    found = []
    for message in outbox(app):
        for part in message.iter_attachments():
            if part.get_content_type() == "text/calendar":
                found.append((message["To"], Calendar.from_ical(part.get_content())))
    return found


# ---------------------------------------------------------------- booking


def test_the_order_page_and_mail_lead_to_the_call(app, client, paid):
    reference, key = paid
    order_page = client.get(f"/orders/{reference}", query_string={"key": key})
    html = order_page.get_data(as_text=True)
    assert "Book your scoping call" in html
    assert f"/orders/{reference}/call?key={key}" in html


def test_the_order_mail_says_what_happens_next(app, paid):
    from shop.orders.services import get_order, send_order_mail

    reference, key = paid
    with app.test_request_context():
        send_order_mail(get_order(reference), "paid")
    (buyer,) = [message for message in outbox(app) if message["To"].startswith("eg-")]
    link = f"http://localhost/orders/{reference}/call?key={key}"
    assert "book your scoping call" in buyer.get_body(("plain",)).get_content()
    assert link in buyer.get_body(("plain",)).get_content()
    assert link.replace("&", "&amp;") in buyer.get_body(("html",)).get_content()


def test_a_pending_order_has_no_booking_yet(app, client, clock):
    reference = add_order(app, status="pending_payment")
    key = key_of(app, reference)
    html = page(client, reference, key).get_data(as_text=True)
    assert "once the order is paid" in html and not offered(html)
    answer = book(client, reference, key)
    assert answer.status_code == 409
    assert state(app, reference) == ("pending_payment", [])


def test_the_buyer_books_a_time_and_the_order_is_call_scheduled(app, client, paid):
    reference, key = paid
    html = page(client, reference, key).get_data(as_text=True)
    times = offered(html)
    assert times[0] == FIRST
    assert "Times in <strong>Europe/Berlin</strong>" in html
    assert "Tuesday 2 March" in html
    answer = book(client, reference, key)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(f"/orders/{reference}/call?key={key}")
    assert state(app, reference) == ("call_scheduled", [("booked", FIRST, 0)])
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your call is booked for Tuesday 2 March 2027, 09:00 (Europe/Berlin)" in shown
    assert "Add to calendar (.ics)" in shown and "Move the call" in shown
    order_page = client.get(f"/orders/{reference}", query_string={"key": key})
    assert "Booked for" in order_page.get_data(as_text=True)

    # The buyer's invitation and the studio's notification, both with the event.
    sent = invitations(app)
    recipients = {to: calendar for to, calendar in sent}
    assert set(recipients) == {f"{reference.lower()}@example.com", app.config["MAIL_FROM"]}
    calendar = recipients[f"{reference.lower()}@example.com"]
    assert calendar["METHOD"] == "REQUEST"
    (event,) = calendar.walk("VEVENT")
    assert event["SEQUENCE"] == 0 and event["STATUS"] == "CONFIRMED"
    assert event.decoded("DTSTART") == datetime(2027, 3, 2, 8, 0, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    assert reference in str(event["DESCRIPTION"]) and "Sessions in Redis" in str(
        event["DESCRIPTION"]
    )


def test_a_double_click_books_once(app, client, paid):
    reference, key = paid
    assert book(client, reference, key).status_code == 303
    again = book(client, reference, key)
    assert again.status_code == 303  # the same booking again: the page of the call
    assert state(app, reference) == ("call_scheduled", [("booked", FIRST, 0)])


def test_an_invoice_order_books_and_goes_back_when_cancelled(app, client, clock):
    reference = add_order(app, status="submitted")
    key = key_of(app, reference)
    assert book(client, reference, key).status_code == 303
    assert state(app, reference)[0] == "call_scheduled"
    assert post(client, reference, key, "cancel").status_code == 303
    assert state(app, reference) == ("submitted", [("cancelled", FIRST, 1)])


def test_a_time_just_taken_answers_409_with_the_fresh_times(app, client, paid):
    reference, key = paid
    other = add_order(app, status="paid")
    assert book(client, other, key_of(app, other)).status_code == 303
    answer = book(client, reference, key)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "That time was just taken by someone else" in html
    assert FIRST not in offered(html) and offered(html)
    assert state(app, reference) == ("paid", [])


@pytest.mark.parametrize(
    ("start", "status", "message"),
    [
        ("", 422, "Choose one of the times below."),
        ("tomorrow at nine", 400, "That is not a time the picker offers"),
        ("2027-03-02T08:00:00", 400, "That is not a time the picker offers"),  # no offset
        ("2027-03-02T08:00:30+00:00", 400, "That is not a time the picker offers"),
        ("2027-03-02T08:10:00+00:00", 400, "Calls start at the times listed"),
        ("2027-03-02T18:00:00+00:00", 400, "outside the studio"),
        ("2027-03-06T09:00:00+00:00", 400, "outside the studio"),  # a Saturday
        ("2027-02-26T09:00:00+00:00", 400, "That time has passed"),
        ("2027-03-01T12:00:00+00:00", 400, "the studio needs more notice"),
        ("2027-04-05T08:00:00+00:00", 400, "too far ahead"),
        ("9999-99-99T99:99:99+00:00", 400, "That is not a time the picker offers"),
    ],
)
def test_a_refused_time_changes_nothing(app, client, paid, start, status, message):
    reference, key = paid
    answer = book(client, reference, key, start=start)
    html = answer.get_data(as_text=True)
    assert answer.status_code == status, html
    assert message in html and 'role="alert"' in html
    assert offered(html)  # the times to choose from again
    assert state(app, reference) == ("paid", [])


def test_an_unknown_zone_is_refused_and_the_studios_is_shown(app, client, paid):
    reference, key = paid
    answer = page(client, reference, key, zone="Mars/Olympus_Mons")
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "That time zone is not one we know" in html
    assert "Times in <strong>Europe/Berlin</strong>" in html
    assert book(client, reference, key, zone="../../etc/passwd").status_code == 400
    assert state(app, reference) == ("paid", [])


def test_another_buyers_order_is_not_there(app, client, paid):
    reference, _ = paid
    assert page(client, reference, None).status_code == 404
    assert page(client, reference, "0" * 32).status_code == 404
    assert client.get(f"/orders/{reference}/call.ics").status_code == 404
    form = client.get("/").get_data(as_text=True)
    answer = client.post(
        f"/orders/{reference}/call", data={"csrf_token": csrf_token(form), "start": FIRST}
    )
    assert answer.status_code == 404
    assert state(app, reference) == ("paid", [])


def test_the_order_that_booked_once_cannot_book_a_second_call(app, client, paid):
    reference, key = paid
    assert book(client, reference, key).status_code == 303
    answer = book(client, reference, key, start="2027-03-02T10:00:00+00:00")
    assert answer.status_code == 409
    assert "already booked" in answer.get_data(as_text=True)
    assert len(state(app, reference)[1]) == 1


# ---------------------------------------------------------------- zones


def test_the_times_in_the_buyers_zone_with_half_hour_offsets(app, client, paid):
    reference, key = paid
    html = page(client, reference, key, zone="Asia/Kolkata").get_data(as_text=True)
    assert "Times in <strong>Asia/Kolkata</strong>; the studio works in Europe/Berlin" in html
    assert offered(html)[0] == FIRST  # the same instants
    assert ">13:30</time>" in html  # 09:00 in Berlin
    lord_howe = page(client, reference, key, zone="Australia/Lord_Howe").get_data(as_text=True)
    assert ">19:00</time>" in lord_howe  # UTC+11 in March (daylight time)
    answer = book(client, reference, key, zone="Asia/Kolkata")
    shown = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Tuesday 2 March 2027, 13:30" in shown and "Asia/Kolkata" in shown
    assert "For the studio: Tuesday 2 March, 09:00 (Europe/Berlin)" in shown


def test_htmx_redraws_the_times_in_another_zone(app, client, paid):
    reference, key = paid
    answer = client.get(
        f"/orders/{reference}/call", query_string={"key": key, "zone": "Asia/Kolkata"}, headers=HX
    )
    html = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<form id="call-times"')
    assert 'hx-swap-oob="innerHTML">Times shown in Asia/Kolkata.' in html
    assert answer.headers["Vary"] and "HX-Request" in answer.headers["Vary"]


# ---------------------------------------------------------------- moving, cancelling


def test_the_buyer_moves_the_call_same_event_higher_sequence(app, client, paid):
    reference, key = paid
    book(client, reference, key)
    moving = page(client, reference, key, move="1").get_data(as_text=True)
    assert "Move your scoping call" in moving and offered(moving)
    later = "2027-03-03T13:00:00+00:00"
    answer = post(client, reference, key, "move", start=later, zone="Europe/Berlin")
    assert answer.status_code == 303
    assert state(app, reference) == ("call_scheduled", [("booked", later, 1)])
    sent = invitations(app)
    uids = {str(calendar.walk("VEVENT")[0]["UID"]) for _, calendar in sent}
    assert len(uids) == 1  # one event throughout
    sequences = sorted((cal.walk("VEVENT")[0]["SEQUENCE"], cal["METHOD"]) for _, cal in sent)
    assert sequences == [(0, "REQUEST"), (0, "REQUEST"), (1, "REQUEST"), (1, "REQUEST")]
    # The old time is free again for others.
    other = add_order(app, status="paid")
    assert FIRST in offered(page(client, other, key_of(app, other)).get_data(as_text=True))


def test_cancelling_frees_the_time_and_mails_a_cancellation(app, client, paid):
    reference, key = paid
    book(client, reference, key)
    answer = post(client, reference, key, "cancel")
    assert answer.status_code == 303
    assert state(app, reference) == ("paid", [("cancelled", FIRST, 1)])
    cancellations = [cal for _, cal in invitations(app) if cal["METHOD"] == "CANCEL"]
    assert len(cancellations) == 2  # the buyer's and the studio's
    event = cancellations[0].walk("VEVENT")[0]
    assert event["STATUS"] == "CANCELLED" and event["SEQUENCE"] == 1
    html = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Your call is cancelled" in html and FIRST in offered(html)
    # Acted on twice (a second tab): a clear 409, nothing changes.
    assert post(client, reference, key, "cancel").status_code == 409
    assert post(client, reference, key, "move", start=FIRST).status_code == 409
    assert state(app, reference) == ("paid", [("cancelled", FIRST, 1)])


def test_no_move_or_cancel_past_the_cutoff(app, client, paid):
    reference, key = paid
    book(client, reference, key)
    with moved(timedelta(hours=9)):  # Monday 17:00 UTC: the call is 15 hours away
        html = page(client, reference, key).get_data(as_text=True)
        assert "write to the studio" in html and "Move the call" not in html
        assert post(client, reference, key, "cancel").status_code == 409
        answer = post(client, reference, key, "move", start="2027-03-03T13:00:00+00:00")
        assert answer.status_code == 409
    assert state(app, reference) == ("call_scheduled", [("booked", FIRST, 0)])


def test_the_calendar_file_of_the_call(app, client, paid):
    reference, key = paid
    assert client.get(f"/orders/{reference}/call.ics?key={key}").status_code == 404
    book(client, reference, key)
    answer = client.get(f"/orders/{reference}/call.ics?key={key}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "attachment" in answer.headers["Content-Disposition"]
    calendar = Calendar.from_ical(answer.data)
    assert "METHOD" not in calendar
    (event,) = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == datetime(2027, 3, 2, 8, 0, tzinfo=UTC)


# ---------------------------------------------------------------- call length, reminders


def test_the_call_is_as_long_as_the_longest_offer(app, client, clock):
    with app.app_context():
        from shop.catalog.models import Offer

        offer = db.session.scalar(select(Offer).order_by(Offer.id).limit(1))
        offer.call_minutes = 90
        offer_id = offer.id
        db.session.commit()
    reference = add_order(app, status="paid")
    with app.app_context():
        from shop.orders.models import OrderLine

        line = db.session.scalar(
            select(OrderLine).join(Order).where(Order.reference == reference).limit(1)
        )
        line.offer_id = offer_id
        db.session.commit()
    key = key_of(app, reference)
    html = page(client, reference, key).get_data(as_text=True)
    assert "The call takes 90 min" in html
    assert "2027-03-02T14:30:00+00:00" in offered(html)  # 15:30–17:00 Berlin fits
    assert "2027-03-02T15:00:00+00:00" not in offered(html)  # 16:00–17:30 does not
    book(client, reference, key)
    with app.app_context():
        ends = db.session.scalar(select(Call.ends_at))
    assert ends.replace(tzinfo=UTC) == datetime(2027, 3, 2, 9, 30, tzinfo=UTC)


def test_reminders_go_once_a_day_before(app, client, runner, paid):
    reference, key = paid
    book(client, reference, key)
    before = len(outbox(app))
    assert "sent 0 reminders" in runner.invoke(args=["calls", "remind"]).output
    with moved(timedelta(hours=2)):  # 09:00 UTC Monday: the call is 23 hours away
        assert "sent 1 reminder " in runner.invoke(args=["calls", "remind"]).output
        assert "sent 0 reminders" in runner.invoke(args=["calls", "remind"]).output
    sent = outbox(app)[before:]
    assert [message["Subject"] for message in sent] == [
        f"Tomorrow: your scoping call for order {reference}"
    ]
    assert (
        "Tuesday 2 March 2027, 09:00 (Europe/Berlin)" in sent[0].get_body(("plain",)).get_content()
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Call)) == 1


def test_an_order_the_studio_cancels_keeps_no_call(app, client, paid, admin):
    reference, key = paid
    book(client, reference, key)
    answer = move(admin, reference, "cancelled")
    assert answer.status_code == 303
    assert state(app, reference) == ("cancelled", [("cancelled", FIRST, 1)])
    cancellations = [cal for _, cal in invitations(app) if cal["METHOD"] == "CANCEL"]
    assert len(cancellations) == 2  # the buyer's calendar and the studio's
    agenda = admin.get("/admin/calls").get_data(as_text=True)  # the flash names the order
    assert "No calls are booked from now on." in agenda
    other = add_order(app, status="paid")
    assert FIRST in offered(page(client, other, key_of(app, other)).get_data(as_text=True))
