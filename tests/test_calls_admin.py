"""The studio's side of the scoping calls: who may see it, the agenda, moving and cancelling a
call (the buyer mailed), the weekly hours, the dated exceptions and the limits (refused
input changes nothing and is kept on the page), and the calendar feed at its secret address.

A fixed clock: Monday 1 March 2027, 08:00 in Berlin. The studio's hours are set by each
test's fixture (Monday to Friday, 09:00-17:00 Europe/Berlin), so the tests read the same on
SQLite and on PostgreSQL."""

from __future__ import annotations

import html as htmllib
import re
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from shop.calls import services
from shop.calls.models import Call, StudioDay
from shop.clock import moved
from shop.extensions import db
from shop.orders.models import Order
from shop.orders.services import get_order
from tests.support.accounts import new_account
from tests.support.forms import csrf_token_of, form_token
from tests.support.mailbox import outbox
from tests.support.orders import add_order
from tests.support.pagetext import page_text

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
TUESDAY_9 = datetime(2027, 3, 2, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
WEEKDAYS_9_TO_5 = {weekday: [(9 * 60, 17 * 60)] for weekday in range(5)}


# ---------------------------------------------------------------- helpers


@pytest.fixture
def clock():
    with moved(NOW - datetime.now(UTC)):
        yield


@pytest.fixture(autouse=True)
def studio(app, clock):
    """Monday to Friday 09:00-17:00 in Berlin, the default limits (the PostgreSQL tests
    empty every table, the migration's rows too)."""
    with app.app_context():
        services.save_hours(WEEKDAYS_9_TO_5)
        services.save_limits(
            step_minutes=30,
            buffer_minutes=15,
            notice_hours=24,
            window_days=30,
            max_per_day=4,
            cutoff_hours=24,
        )
        db.session.remove()


@pytest.fixture
def customer(app):
    client = app.test_client()
    new_account(client)
    return client


def book(app, reference: str, start: datetime, zone: str = "America/New_York") -> int:
    """Book the order's call at ``start`` (UTC) as its buyer would; the call's id."""
    with app.app_context():
        change = services.book(get_order(reference), start, zone)
        call_id = change.call.id
        db.session.remove()
    return call_id


def paid_order(app, **values) -> str:
    return add_order(app, status="paid", **values)


def call_row(app, call_id: int) -> Call:
    with app.app_context():
        call = db.session.get(Call, call_id)
        db.session.expunge(call)
        db.session.rollback()
    return call


def order_status(app, reference: str) -> str:
    with app.app_context():
        status = db.session.scalar(select(Order.status).where(Order.reference == reference))
        db.session.rollback()
    return status


def free_times(app, reference: str) -> list[datetime]:
    with app.app_context():
        found = services.free_times(get_order(reference))
        db.session.rollback()
    return found


def berlin(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("Europe/Berlin"))


def weekly(app) -> dict:
    with app.app_context():
        hours = services.weekly_hours()
        db.session.rollback()
    return hours


def limits(app) -> dict[str, int]:
    names = ("step_minutes", "buffer_minutes", "notice_hours", "window_days", "max_per_day")
    with app.app_context():
        row = services.settings()
        values = {name: getattr(row, name) for name in (*names, "cutoff_hours")}
        db.session.rollback()
    return values


def day_exceptions(app) -> list[tuple[date, int | None, int | None]]:
    with app.app_context():
        rows = [(row.day, row.start_minute, row.end_minute) for row in services.exceptions()]
        db.session.rollback()
    return rows


def feed_secret(app) -> str:
    with app.app_context():
        secret = services.settings().feed_secret
        db.session.rollback()
    return secret


def send(client, page: str, action: str, **fields):
    """Send a form of ``page`` to ``action`` with the page's CSRF token."""
    html = client.get(page).get_data(as_text=True)
    return client.post(action, data={"csrf_token": form_token(html), **fields})


def hours_form(**days: str) -> dict[str, str]:
    """The weekly hours form: Monday..Sunday by name, the unnamed days 09:00-17:00 on weekdays
    and closed at the weekend."""
    names = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    return {
        f"day-{index}": days.get(name, "09:00-17:00" if index < 5 else "")
        for index, name in enumerate(names)
    }


def limits_form(**values) -> dict[str, str]:
    form = {
        "step_minutes": "30",
        "buffer_minutes": "15",
        "notice_hours": "24",
        "window_days": "30",
        "max_per_day": "4",
        "cutoff_hours": "24",
    }
    form.update({name: str(value) for name, value in values.items()})
    return form


def input_value(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*?value="([^"]*)"', html)
    assert found, f"no input {element_id}"
    return htmllib.unescape(found[1])


def feed_path(html: str) -> str:
    return urlsplit(input_value(html, "feed-url")).path


def calendar_of(response) -> Calendar:
    return Calendar.from_ical(response.get_data())


def buyer_mail(app, reference: str) -> list:
    address = f"{reference.lower()}@example.com"
    return [message for message in outbox(app) if message["To"] == address]


def invitation_of(message) -> Calendar:
    for part in message.iter_attachments():
        if part.get_content_type() == "text/calendar":
            return Calendar.from_ical(part.get_content())
    raise AssertionError("no invitation attached")


# ---------------------------------------------------------------- access


def routes(call_id: int, exception_id: int) -> list[tuple[str, str]]:
    return [
        ("get", "/admin/calls"),
        ("get", "/admin/calls/hours"),
        ("get", f"/admin/calls/{call_id}/move"),
        ("post", f"/admin/calls/{call_id}/move"),
        ("post", f"/admin/calls/{call_id}/cancel"),
        ("post", "/admin/calls/hours"),
        ("post", "/admin/calls/limits"),
        ("post", "/admin/calls/exceptions"),
        ("post", f"/admin/calls/exceptions/{exception_id}/remove"),
        ("post", "/admin/calls/feed/rotate"),
    ]


def attempt(client, method: str, path: str):
    if method == "get":
        return client.get(path)
    data = {
        "csrf_token": csrf_token_of(client, "/"),
        "start": "2027-03-03T08:00:00+00:00",
        **hours_form(monday=""),
        **limits_form(step_minutes=60),
        "day": "2027-03-10",
        "kind": "off",
    }
    return client.post(path, data=data)


def setup_for_access(app) -> tuple[str, int, int, tuple]:
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    with app.app_context():
        exception_id = services.add_exception(date(2027, 3, 9), None, None).id
        db.session.remove()
    before = (
        weekly(app),
        limits(app),
        day_exceptions(app),
        feed_secret(app),
        call_row(app, call_id).starts_at,
    )
    return reference, call_id, exception_id, before


def unchanged(app, reference: str, call_id: int, before: tuple) -> None:
    after = (
        weekly(app),
        limits(app),
        day_exceptions(app),
        feed_secret(app),
        call_row(app, call_id).starts_at,
    )
    assert after == before
    assert call_row(app, call_id).status == "booked"
    assert order_status(app, reference) == "call_scheduled"


def test_visitors_are_asked_to_sign_in(app, client):
    reference, call_id, exception_id, before = setup_for_access(app)
    for method, path in routes(call_id, exception_id):
        response = attempt(client, method, path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/account/sign-in?next="), path
    unchanged(app, reference, call_id, before)


def test_customers_are_refused_like_on_the_other_admin_pages(app, customer):
    reference, call_id, exception_id, before = setup_for_access(app)
    assert customer.get("/admin/orders").status_code == 403
    for method, path in routes(call_id, exception_id):
        assert attempt(customer, method, path).status_code == 403, path
    unchanged(app, reference, call_id, before)


def test_the_admin_page_links_to_the_calls(app, admin):
    html = admin.get("/admin").get_data(as_text=True)
    assert 'href="/admin/calls">Calls</a>' in html
    answer = admin.get("/admin/calls")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert 'href="/admin/calls/hours"' in answer.get_data(as_text=True)


def test_posts_without_csrf_token_are_refused(app, admin):
    reference, call_id, exception_id, before = setup_for_access(app)
    for method, path in routes(call_id, exception_id):
        if method == "post":
            assert admin.post(path, data={"kind": "off"}).status_code == 400, path
    unchanged(app, reference, call_id, before)


def test_an_unknown_call_is_not_found(app, admin):
    assert admin.get("/admin/calls/999/move").status_code == 404
    assert admin.get(f"/admin/calls/{2**70}/move").status_code == 404
    token = csrf_token_of(admin, "/admin/calls")
    assert admin.post("/admin/calls/999/cancel", data={"csrf_token": token}).status_code == 404


# ---------------------------------------------------------------- the agenda


def test_the_agenda_groups_the_calls_by_the_studios_day_with_the_context(app, admin):
    # 00:00-02:00 on Wednesdays too: a call at 00:30 in Berlin is on Tuesday in UTC.
    with app.app_context():
        services.save_hours({**WEEKDAYS_9_TO_5, 2: [(0, 120), (9 * 60, 17 * 60)]})
        db.session.remove()
    late = paid_order(app, name="Grace Hopper", hosting="aws", stateful="Carts in Postgres")
    early = paid_order(app, name="Ada Lovelace", files="Uploads to S3")
    thursday = paid_order(app, name="Edsger Dijkstra", cloudflare_json='["d1"]')
    book(app, late, datetime(2027, 3, 2, 23, 30, tzinfo=UTC), "Asia/Kolkata")
    book(app, early, TUESDAY_9 + timedelta(hours=2))
    book(app, thursday, datetime(2027, 3, 4, 13, 0, tzinfo=UTC))
    waiting = paid_order(app, name="Barbara Liskov")

    html = admin.get("/admin/calls").get_data(as_text=True)
    text = page_text(html)
    days = re.findall(r'<h3 id="day-([0-9-]+)">', html)
    assert days == ["2027-03-02", "2027-03-03", "2027-03-04"]
    assert "Tuesday 2 March 2027" in text and "Wednesday 3 March 2027" in text
    # The order of the calls and their times in Berlin.
    assert text.index(early) < text.index(late) < text.index(thursday)
    assert "11:00 – 12:00 · Ada Lovelace" in text
    assert "00:30 – 01:30 · Grace Hopper" in text  # Wednesday in Berlin, Tuesday in UTC
    assert "14:00 – 15:00 · Edsger Dijkstra" in text
    assert "Europe/Berlin" in text
    # Each call with its order, buyer, their zone and their system.
    assert f'href="/admin/orders/{late}"' in html
    assert f"{late.lower()}@example.com" in text
    assert "Wednesday 3 March, 05:00 (Asia/Kolkata)" in text
    assert "Current hosting AWS" in text
    assert "Carts in Postgres" in text and "Uploads to S3" in text
    assert "GDPR, SOC 2" in text and "D1" in text
    assert "1 h" in text
    # Move and cancel per call; the order still waiting for its call.
    assert html.count('href="/admin/calls/') >= 3
    assert f"Cancel the call of order {late}" in text
    assert f"Move the call of order {late}" in text
    assert "Orders without a call yet" in text and waiting in text


def test_past_and_cancelled_calls_leave_the_agenda(app, admin):
    past = paid_order(app)
    cancelled = paid_order(app)
    book(app, past, TUESDAY_9)
    call_id = book(app, cancelled, TUESDAY_9 + timedelta(hours=3))
    with app.app_context():
        services.cancel(db.session.get(Call, call_id), actor="admin")
        db.session.remove()
    with moved(timedelta(days=2)):
        text = page_text(admin.get("/admin/calls").get_data(as_text=True))
    assert past not in text.split("Orders without a call yet")[0]
    assert "No calls are booked from now on." in text


# ---------------------------------------------------------------- cancel and move


def test_the_admin_cancels_a_call_and_the_buyer_is_told(app, admin):
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    answer = send(admin, "/admin/calls", f"/admin/calls/{call_id}/cancel")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/calls"
    assert call_row(app, call_id).status == "cancelled"
    assert order_status(app, reference) == "paid"
    shown = page_text(admin.get("/admin/calls").get_data(as_text=True))
    assert f"The call of order {reference} is cancelled" in shown
    (message,) = buyer_mail(app, reference)
    assert "is cancelled" in message["Subject"]
    assert invitation_of(message)["method"] == "CANCEL"

    # A second click (another tab) is told so, and nothing more is mailed.
    again = send(admin, "/admin/calls", f"/admin/calls/{call_id}/cancel")
    assert again.status_code == 409
    assert "cancelled already" in page_text(again.get_data(as_text=True))
    assert len(buyer_mail(app, reference)) == 1


def test_the_admin_moves_a_call_to_a_free_time(app, admin):
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    page = admin.get(f"/admin/calls/{call_id}/move")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    offered = re.findall(r'name="start" value="([^"]+)"', html)
    target = datetime(2027, 3, 3, 13, 0, tzinfo=UTC).isoformat()  # Wednesday 14:00 Berlin
    assert target in offered
    assert TUESDAY_9.isoformat() not in offered  # its own time is no move
    assert (TUESDAY_9 + timedelta(minutes=30)).isoformat() in offered
    assert "Tuesday 2 March 2027, 09:00" in page_text(html)
    assert "<legend>Wednesday 3 March" in html

    answer = admin.post(
        f"/admin/calls/{call_id}/move", data={"csrf_token": form_token(html), "start": target}
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/admin/calls"
    call = call_row(app, call_id)
    assert services.as_utc(call.starts_at).isoformat() == target
    assert call.sequence == 1
    assert order_status(app, reference) == "call_scheduled"
    flashed = page_text(admin.get("/admin/calls").get_data(as_text=True))
    assert "has moved to Wednesday 3 March 2027, 14:00 (Europe/Berlin)" in flashed
    (message,) = buyer_mail(app, reference)
    assert "has moved" in message["Subject"]
    invitation = invitation_of(message)
    assert invitation["method"] == "REQUEST"
    (event,) = invitation.walk("VEVENT")
    assert event["sequence"] == 1 and str(event["uid"]) == call.uid


@pytest.mark.parametrize(
    ("start", "status", "message"),
    [
        ("", 422, "Choose one of the times below."),
        ("tomorrow at nine", 400, "That is not a time the picker offers."),
        ("2027-03-03T13:10:00+00:00", 400, "Calls start at the times listed."),
        ("2027-03-06T10:00:00+00:00", 400, "outside the studio's hours"),
        ("2027-03-01T12:00:00+00:00", 400, "too soon"),
        ("2027-02-26T12:00:00+00:00", 400, "That time has passed."),
        ("2027-05-03T12:00:00+00:00", 400, "too far ahead"),
        ("2027-03-02T08:00:00+00:00", 400, "The call is at that time already."),
        ("2027-03-03T08:30:00+00:00", 409, "just taken"),
    ],
)
def test_a_move_to_a_time_that_is_not_free_is_refused(app, admin, start, status, message):
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    book(app, paid_order(app), datetime(2027, 3, 3, 8, 0, tzinfo=UTC))  # Wednesday 09:00
    html = admin.get(f"/admin/calls/{call_id}/move").get_data(as_text=True)
    answer = admin.post(
        f"/admin/calls/{call_id}/move", data={"csrf_token": form_token(html), "start": start}
    )
    assert answer.status_code == status
    shown = answer.get_data(as_text=True)
    assert message in htmllib.unescape(shown)
    assert 'class="error-summary"' in shown
    assert 'name="start"' in shown  # the fresh free times, to choose again
    call = call_row(app, call_id)
    assert services.as_utc(call.starts_at) == TUESDAY_9 and call.sequence == 0
    assert buyer_mail(app, reference) == []


def test_a_full_day_is_refused_with_409(app, admin):
    with app.app_context():
        services.save_limits(max_per_day=1)
        db.session.remove()
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    book(app, paid_order(app), datetime(2027, 3, 3, 8, 0, tzinfo=UTC))
    html = admin.get(f"/admin/calls/{call_id}/move").get_data(as_text=True)
    assert "2027-03-03T" not in "".join(re.findall(r'name="start" value="([^"]+)"', html))
    answer = admin.post(
        f"/admin/calls/{call_id}/move",
        data={"csrf_token": form_token(html), "start": "2027-03-03T13:00:00+00:00"},
    )
    assert answer.status_code == 409
    assert "fully booked" in answer.get_data(as_text=True)


def test_the_admin_is_not_bound_by_the_buyers_cut_off(app, admin):
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    with moved(timedelta(hours=14)):  # Monday 22:00 in Berlin: the call is 11 hours away
        html = admin.get(f"/admin/calls/{call_id}/move").get_data(as_text=True)
        target = datetime(2027, 3, 3, 14, 0, tzinfo=UTC).isoformat()
        assert target in html
        answer = admin.post(
            f"/admin/calls/{call_id}/move", data={"csrf_token": form_token(html), "start": target}
        )
        assert answer.status_code == 303
        answer = send(admin, "/admin/calls", f"/admin/calls/{call_id}/cancel")
        assert answer.status_code == 303
    assert call_row(app, call_id).status == "cancelled"
    assert order_status(app, reference) == "paid"


def test_a_cancelled_call_cannot_be_moved(app, admin):
    reference = paid_order(app)
    call_id = book(app, reference, TUESDAY_9)
    html = admin.get(f"/admin/calls/{call_id}/move").get_data(as_text=True)
    with app.app_context():
        services.cancel(db.session.get(Call, call_id), actor="admin")
        db.session.remove()
    answer = admin.post(
        f"/admin/calls/{call_id}/move",
        data={"csrf_token": form_token(html), "start": "2027-03-03T13:00:00+00:00"},
    )
    assert answer.status_code == 409
    assert "This call is cancelled" in answer.get_data(as_text=True)
    assert admin.get(f"/admin/calls/{call_id}/move").status_code == 409
    assert call_row(app, call_id).status == "cancelled"
    assert order_status(app, reference) == "paid"


# ---------------------------------------------------------------- weekly hours


def test_the_hours_page_shows_the_hours_and_their_zone(app, admin):
    answer = admin.get("/admin/calls/hours")
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    html = answer.get_data(as_text=True)
    assert input_value(html, "hours-0") == "09:00-17:00"
    assert input_value(html, "hours-6") == ""
    assert "Europe/Berlin" in page_text(html)
    assert '<label class="field-label" for="hours-0">Monday</label>' in html


def test_saving_the_hours_changes_the_free_times(app, admin):
    reference = paid_order(app)
    form = hours_form(tuesday="10:00-11:00, 14:00 - 15:30", saturday="09:00-10:00")
    answer = send(admin, "/admin/calls/hours", "/admin/calls/hours", **form)
    assert answer.status_code == 303
    assert weekly(app)[1] == ((600, 660), (840, 930))
    assert weekly(app)[5] == ((540, 600),)
    html = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert input_value(html, "hours-1") == "10:00-11:00, 14:00-15:30"
    assert "The weekly hours are saved." in html
    tuesday = [
        berlin(moment).strftime("%H:%M")
        for moment in free_times(app, reference)
        if berlin(moment).date() == date(2027, 3, 2)
    ]
    assert tuesday == ["10:00", "14:00", "14:30"]
    saturday = [m for m in free_times(app, reference) if berlin(m).date() == date(2027, 3, 6)]
    assert [berlin(m).strftime("%H:%M") for m in saturday] == ["09:00"]


def test_an_empty_day_is_closed_and_a_range_may_end_at_midnight(app, admin):
    form = hours_form(monday="", tuesday="", wednesday="", thursday="", friday="22:00-24:00")
    answer = send(admin, "/admin/calls/hours", "/admin/calls/hours", **form)
    assert answer.status_code == 303
    assert weekly(app) == {4: ((1320, 1440),)}


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("9-17", "ranges such as 09:00-12:00"),
        ("nine to five", "ranges such as 09:00-12:00"),
        ("09:00-12:00,", "ranges such as 09:00-12:00"),
        ("25:00-26:00", "HH:MM on the 24-hour clock"),
        ("09:60-12:00", "HH:MM on the 24-hour clock"),
        ("09:00-24:30", "HH:MM on the 24-hour clock"),
        ("24:00-24:00", "HH:MM on the 24-hour clock"),
        ("17:00-09:00", "must end after it starts"),
        ("09:00-09:00", "must end after it starts"),
        ("09:00-12:00, 11:00-13:00", "overlap at 11:00"),
        (", ".join(f"{h:02d}:00-{h:02d}:30" for h in range(8, 15)), "at most 6 ranges"),
        ("09:00-10:00 " * 30, "at most 200 characters"),
        ('<b>"09:00"</b>', "ranges such as 09:00-12:00"),
    ],
)
def test_bad_hours_are_refused_in_place_and_kept(app, admin, typed, message):
    before = weekly(app)
    form = hours_form(monday="08:00-12:00", wednesday=typed)
    answer = send(admin, "/admin/calls/hours", "/admin/calls/hours", **form)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert message in htmllib.unescape(html)
    assert "Wednesday: " in htmllib.unescape(html)
    assert '<p class="field-error" id="hours-2-error">' in html
    assert 'id="hours-2" type="text"' in html and 'aria-invalid="true"' in html
    assert '<a href="#hours-2">' in html  # the summary leads to the field
    assert input_value(html, "hours-2") == typed  # as typed, escaped
    assert input_value(html, "hours-0") == "08:00-12:00"  # the other days too
    assert "<b>" not in html.split('id="hours-2"')[1].split(">")[0]
    assert weekly(app) == before  # nothing saved, not even Monday


def test_every_refused_day_is_named(app, admin):
    form = hours_form(monday="x", sunday="10:00-09:00")
    answer = send(admin, "/admin/calls/hours", "/admin/calls/hours", **form)
    assert answer.status_code == 422
    text = page_text(answer.get_data(as_text=True))
    assert "Monday: Write the hours" in text and "Sunday: A range must end" in text


# ---------------------------------------------------------------- exceptions


def test_a_day_off_removes_that_days_times_until_it_is_removed(app, admin):
    reference = paid_order(app)
    answer = send(
        admin, "/admin/calls/hours", "/admin/calls/exceptions", day="2027-03-03", kind="off"
    )
    assert answer.status_code == 303
    assert day_exceptions(app) == [(date(2027, 3, 3), None, None)]
    assert not [m for m in free_times(app, reference) if berlin(m).date() == date(2027, 3, 3)]
    html = admin.get("/admin/calls/hours").get_data(as_text=True)
    text = page_text(html)
    assert "Wednesday 3 March 2027 is a day off" in text
    assert "Wednesday 3 March 2027 Day off Remove day off on 3 March 2027" in text

    (remove,) = re.findall(r'action="(/admin/calls/exceptions/[0-9]+/remove)"', html)
    answer = admin.post(remove, data={"csrf_token": form_token(html)})
    assert answer.status_code == 303
    assert day_exceptions(app) == []
    assert [m for m in free_times(app, reference) if berlin(m).date() == date(2027, 3, 3)]
    # The same button again (a second tab): told so.
    again = admin.post(remove, data={"csrf_token": form_token(html)})
    assert again.status_code == 409
    assert "removed already" in page_text(again.get_data(as_text=True))


def test_extra_hours_on_a_date_add_times(app, admin):
    reference = paid_order(app)
    answer = send(
        admin,
        "/admin/calls/hours",
        "/admin/calls/exceptions",
        day="2027-03-06",
        kind="hours",
        start="10:00",
        end="12:00",
    )
    assert answer.status_code == 303
    assert day_exceptions(app) == [(date(2027, 3, 6), 600, 720)]
    saturday = [m for m in free_times(app, reference) if berlin(m).date() == date(2027, 3, 6)]
    assert [berlin(m).strftime("%H:%M") for m in saturday] == ["10:00", "10:30", "11:00"]
    text = page_text(admin.get("/admin/calls/hours").get_data(as_text=True))
    assert "Extra hours 10:00-12:00" in text


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"day": "", "kind": "off"}, "day", "Enter the date."),
        ({"day": "tomorrow", "kind": "off"}, "day", "Enter a real date"),
        ({"day": "2027-02-30", "kind": "off"}, "day", "Enter a real date"),
        ({"day": "2027-3-3", "kind": "off"}, "day", "Enter a real date"),
        ({"day": "2027-02-28", "kind": "off"}, "day", "That date has passed"),
        ({"day": "2031-01-01", "kind": "off"}, "day", "within the next two years"),
        ({"day": "2027-03-06"}, "kind-off", "Choose a day off or hours"),
        ({"day": "2027-03-06", "kind": "holiday"}, "kind-off", "Choose a day off or hours"),
        ({"day": "2027-03-06", "kind": "hours"}, "start", "Enter when the hours start"),
        (
            {"day": "2027-03-06", "kind": "hours", "start": "12:00", "end": "10:00"},
            "start",
            "must end after it starts",
        ),
        (
            {"day": "2027-03-06", "kind": "hours", "start": "10:00", "end": "25:00"},
            "start",
            "HH:MM on the 24-hour clock",
        ),
    ],
)
def test_a_bad_exception_is_refused_and_kept(app, admin, fields, field, message):
    answer = send(admin, "/admin/calls/hours", "/admin/calls/exceptions", **fields)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert message in htmllib.unescape(html)
    assert f'<a href="#exception-{field}">' in html
    if fields.get("day"):
        assert input_value(html, "exception-day") == fields["day"]
    if fields.get("kind") == "hours":
        assert re.search(r'id="exception-kind-hours"[^>]*checked', html)
        assert input_value(html, "exception-start") == fields.get("start", "")
    assert day_exceptions(app) == []


def test_past_exceptions_leave_the_list(app, admin):
    with app.app_context():
        db.session.add(StudioDay(day=date(2027, 2, 1)))
        db.session.commit()
        services.add_exception(date(2027, 3, 2), None, None)
        db.session.remove()
    text = page_text(admin.get("/admin/calls/hours").get_data(as_text=True))
    assert "Tuesday 2 March 2027" in text and "1 February" not in text


# ---------------------------------------------------------------- limits


def test_the_limits_are_saved_and_change_the_free_times(app, admin):
    reference = paid_order(app)
    values = dict(step_minutes=60, buffer_minutes=0, notice_hours=0, window_days=2)
    answer = send(
        admin,
        "/admin/calls/hours",
        "/admin/calls/limits",
        **limits_form(**values, max_per_day=48, cutoff_hours=720),
    )
    assert answer.status_code == 303
    assert limits(app) == {**values, "max_per_day": 48, "cutoff_hours": 720}
    html = admin.get("/admin/calls/hours").get_data(as_text=True)
    assert input_value(html, "limit-step_minutes") == "60"
    starts = [berlin(m) for m in free_times(app, reference)]
    assert {m.minute for m in starts} == {0}  # every hour, no half hours
    assert starts[0] == berlin(datetime(2027, 3, 1, 8, 0, tzinfo=UTC))  # no notice: today
    # Two days ahead: until Wednesday 08:00 in Berlin, before the studio opens.
    assert max(starts) == berlin(datetime(2027, 3, 2, 15, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("step_minutes", "4"),
        ("step_minutes", "241"),
        ("step_minutes", ""),
        ("buffer_minutes", "-1"),
        ("buffer_minutes", "241"),
        ("notice_hours", "2161"),
        ("notice_hours", "1.5"),
        ("window_days", "0"),
        ("window_days", "366"),
        ("max_per_day", "0"),
        ("max_per_day", "49"),
        ("cutoff_hours", "721"),
        ("cutoff_hours", "ten"),
        ("cutoff_hours", "9" * 40),
    ],
)
def test_a_limit_out_of_its_range_is_refused_and_kept(app, admin, name, value):
    before = limits(app)
    kept = "window_days" if name != "window_days" else "step_minutes"
    form = limits_form(**{kept: 7, name: value})
    answer = send(admin, "/admin/calls/hours", "/admin/calls/limits", **form)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert f'<p class="field-error" id="limit-{name}-error">' in html
    assert "enter a whole number from" in html
    assert input_value(html, f"limit-{name}") == value[:12]
    assert input_value(html, f"limit-{kept}") == "7"
    assert limits(app) == before


# ---------------------------------------------------------------- the calendar feed


def test_the_feed_holds_every_call_with_the_buyers_context(app, admin, client):
    first = paid_order(app, name="Ada Lovelace", stateful="Sessions in Redis")
    second = paid_order(app, name="Grace Hopper", hosting="aws")
    first_id = book(app, first, TUESDAY_9)
    second_id = book(app, second, datetime(2027, 3, 3, 12, 0, tzinfo=UTC))
    send(
        admin,
        f"/admin/calls/{second_id}/move",
        f"/admin/calls/{second_id}/move",
        start="2027-03-04T12:00:00+00:00",
    )
    cancelled = paid_order(app)
    cancelled_id = book(app, cancelled, datetime(2027, 3, 5, 9, 0, tzinfo=UTC))
    send(admin, "/admin/calls", f"/admin/calls/{cancelled_id}/cancel")

    path = feed_path(admin.get("/admin/calls").get_data(as_text=True))
    assert path == f"/calls/feed/{feed_secret(app)}.ics"
    answer = client.get(path)  # no session: the secret is the key
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert answer.headers["Cache-Control"] == "private, no-store"
    calendar = calendar_of(answer)
    assert str(calendar["x-wr-calname"]) == "Edge goods scoping calls"
    assert "method" not in calendar
    events = {str(event["uid"]): event for event in calendar.walk("VEVENT")}
    calls = {call_id: call_row(app, call_id) for call_id in (first_id, second_id, cancelled_id)}
    assert set(events) == {call.uid for call in calls.values()}

    event = events[calls[first_id].uid]
    assert str(event["summary"]) == f"Scoping call: {first}, Ada Lovelace"
    assert event["dtstart"].dt == TUESDAY_9
    assert event["dtend"].dt == TUESDAY_9 + timedelta(hours=1)
    assert event["sequence"] == 0 and str(event["status"]) == "CONFIRMED"
    description = str(event["description"])
    assert f"Order: {first}" in description
    assert f"Buyer: Ada Lovelace <{first.lower()}@example.com>" in description
    assert "Current hosting: Google Cloud" in description
    assert "Expected traffic: 1,200 requests per second" in description
    assert "Stateful workflows: Sessions in Redis" in description
    assert "File handling: Uploads to S3" in description
    assert "Compliance: GDPR, SOC 2. EU customers" in description
    assert "Cloudflare in use: Workers, R2" in description
    assert f"http://localhost/admin/orders/{first}" in description
    assert str(event["organizer"]).startswith("mailto:")
    assert str(event["attendee"]) == f"mailto:{first.lower()}@example.com"

    moved_event = events[calls[second_id].uid]
    assert moved_event["sequence"] == 1
    assert moved_event["dtstart"].dt == datetime(2027, 3, 4, 12, 0, tzinfo=UTC)
    assert "Current hosting: AWS" in str(moved_event["description"])
    cancelled_event = events[calls[cancelled_id].uid]
    assert str(cancelled_event["status"]) == "CANCELLED"
    assert cancelled_event["sequence"] == 1


def test_an_empty_feed_is_a_calendar_too(app, client):
    answer = client.get(f"/calls/feed/{feed_secret(app)}.ics")
    assert answer.status_code == 200
    calendar = calendar_of(answer)
    assert calendar.walk("VEVENT") == [] and str(calendar["version"]) == "2.0"


def test_rotating_the_secret_retires_the_old_address(app, admin, client):
    book(app, paid_order(app), TUESDAY_9)
    old = feed_path(admin.get("/admin/calls").get_data(as_text=True))
    assert client.get(old).status_code == 200
    answer = send(admin, "/admin/calls", "/admin/calls/feed/rotate")
    assert answer.status_code == 303
    html = admin.get(answer.headers["Location"]).get_data(as_text=True)
    assert "the old one no longer works" in html
    new = feed_path(html)
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    assert len(calendar_of(client.get(new)).walk("VEVENT")) == 1


def test_a_forged_secret_is_not_found(app, client):
    secret = feed_secret(app)
    forged = [
        "x",
        secret[:-1],
        secret + "x",
        secret[:-1] + ("A" if secret[-1] != "A" else "B"),
        "é" * len(secret),
        "%00" + secret,
        "a" * 5000,
    ]
    for value in forged:
        answer = client.get(f"/calls/feed/{value}.ics")
        assert answer.status_code == 404, value
        assert b"BEGIN:VCALENDAR" not in answer.get_data()
    assert client.get("/calls/feed/.ics").status_code == 404
    assert client.get(f"/calls/feed/{secret}").status_code == 404
