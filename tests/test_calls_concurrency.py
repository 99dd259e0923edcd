"""Twenty buyers choosing the same time at once: one call is booked, nineteen hear the time
was just taken.

Three levels: the booking service from twenty threads (SQLite's ``BEGIN IMMEDIATE`` and
writer queue, or PostgreSQL's advisory lock, whichever database the ``app`` fixture gives);
PostgreSQL's exclusion constraint on its own, bypassing the service; and real HTTP to two
gunicorn servers on one database, half of the requests to each.
"""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shop import create_app
from shop.calls import services
from shop.calls.models import Call, CallStatus
from shop.calls.services import CallError
from shop.calls.slots import Refusal
from shop.clock import moved
from shop.domain import ErrorKind
from shop.extensions import db
from shop.orders.models import Order, OrderStatus
from shop.orders.services import access_key, get_order
from tests.support.database import PG_URL, TEST_SECRET, fresh_database
from tests.support.live import Browser, gunicorn, log_text
from tests.support.orders import add_order, add_orders

# A Monday morning before the studio opens (09:00 Europe/Berlin is 08:00 UTC in winter).
NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
BUYERS = 20
ZONE = "Europe/Berlin"
TAKEN = "That time was just taken"


@pytest.fixture
def clock():
    # The clock's offset is a module global: every thread of the test sees it moved.
    with moved(NOW - datetime.now(UTC)):
        yield


def offered(html: str) -> list[str]:
    """The starts the call page offers (the radio buttons' values)."""
    return re.findall(r'name="start" value="([^"]+)"', html)


def calls_in(session: Session) -> list[tuple[int, str, datetime]]:
    """(order id, status, start in UTC) of every call row."""
    rows = session.execute(select(Call.order_id, Call.status, Call.starts_at).order_by(Call.id))
    return [(order_id, status, services.as_utc(start)) for order_id, status, start in rows]


def statuses_in(session: Session, references: list[str]) -> dict[str, str]:
    rows = session.execute(
        select(Order.reference, Order.status).where(Order.reference.in_(references))
    )
    return {reference: status for reference, status in rows}


# ---------------------------------------------------------------- the service, 20 threads


def test_twenty_bookings_of_one_time_at_once_book_one_call(app, clock):
    references = [add_order(app, status="paid") for _ in range(BUYERS)]
    with app.app_context():
        start = services.free_times(get_order(references[0]))[0]
        db.session.remove()
    barrier = threading.Barrier(BUYERS)

    def attempt(reference: str) -> CallError | str:
        with app.app_context():
            try:
                order = get_order(reference)
                # Give the connection back before waiting: twenty threads holding one each
                # at the barrier would outnumber the pool.
                db.session.rollback()
                barrier.wait(timeout=30)
                try:
                    services.book(order, start, ZONE)
                except CallError as error:
                    return error
                return "booked"
            finally:
                db.session.remove()

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        outcomes = list(pool.map(attempt, references))

    booked = [ref for ref, outcome in zip(references, outcomes, strict=True) if outcome == "booked"]
    refused = [outcome for outcome in outcomes if isinstance(outcome, CallError)]
    assert len(booked) == 1, outcomes
    assert len(refused) == BUYERS - 1, outcomes
    for error in refused:
        assert error.kind == ErrorKind.CONFLICT, error
        assert error.refusal == Refusal.TAKEN, error

    with app.app_context():
        winner = get_order(booked[0])
        assert calls_in(db.session) == [(winner.id, CallStatus.BOOKED, start)]
        statuses = statuses_in(db.session, references)
        db.session.remove()
    assert statuses.pop(booked[0]) == OrderStatus.CALL_SCHEDULED
    assert set(statuses.values()) == {OrderStatus.PAID} and len(statuses) == BUYERS - 1


# ---------------------------------------------------------------- PostgreSQL's constraint


@pytest.mark.skipif(not PG_URL, reason="the exclusion constraint is PostgreSQL's")
def test_the_exclusion_constraint_refuses_overlapping_booked_calls(app):
    first, second, third = add_orders(app, {"status": "paid"}, {"status": "paid"}, {})
    start = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
    hour, buffer = timedelta(hours=1), timedelta(minutes=15)

    def row(reference: str, begins: datetime, status: str = CallStatus.BOOKED) -> dict:
        return {
            "uid": f"call-{reference}-{begins:%H%M}@example.com",
            "order_id": get_order(reference).id,
            "status": status,
            "starts_at": begins,
            "ends_at": begins + hour,
            "blocked_until": begins + hour + buffer,
            "sequence": 0,
            "buyer_zone": ZONE,
            "order_status_before": "paid",
            "created_at": NOW,
            "updated_at": NOW,
        }

    with app.app_context():
        db.session.execute(insert(Call), [row(first, start)])
        db.session.commit()
        # 10:00–11:00 meets the first call's buffer (until 10:15): refused.
        overlapping = row(second, start + hour)
        with pytest.raises(IntegrityError, match="ex_calls_busy_overlap"):
            db.session.execute(insert(Call), [overlapping])
        db.session.rollback()
        # A cancelled call at the same time is no busy time: accepted.
        db.session.execute(insert(Call), [row(third, start + hour, CallStatus.CANCELLED)])
        db.session.commit()
        # A booked call starting where the first one's buffer ends: accepted (ranges are
        # half-open, as free_slots counts them).
        db.session.execute(insert(Call), [row(second, start + hour + buffer)])
        db.session.commit()
        db.session.execute(Call.__table__.delete().where(Call.order_id == get_order(second).id))
        db.session.commit()

        # Once the first call is cancelled, the overlapping one is accepted.
        db.session.execute(
            update(Call)
            .where(Call.order_id == get_order(first).id)
            .values(status=CallStatus.CANCELLED)
        )
        db.session.commit()
        db.session.execute(insert(Call), [overlapping])
        db.session.commit()
        booked = [
            (order_id, begins)
            for order_id, status, begins in calls_in(db.session)
            if status == CallStatus.BOOKED
        ]
        assert booked == [(get_order(second).id, start + hour)]
        db.session.remove()


# ---------------------------------------------------------------- two servers, real HTTP


class Shop:
    """Two gunicorn servers (two workers each) on one fresh database."""

    def __init__(self, a: str, b: str, url: str, instance: Path):
        self.a, self.b, self.url, self.instance = a, b, url, instance

    def log(self) -> str:
        return "\n".join(log_text(self.instance / name) for name in ("a", "b"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory):
    instance = tmp_path_factory.mktemp("calls-two-servers")
    for name in ("a", "b"):
        (instance / name).mkdir()
    with (
        fresh_database(instance, "_calls_servers") as url,
        gunicorn(url, instance / "a") as a,
        gunicorn(url, instance / "b") as b,
    ):
        yield Shop(a, b, url, instance)


def test_twenty_buyers_on_two_servers_choosing_one_time_book_one_call(shop, tmp_path):
    # Orders are inserted by an app of the test's own on the servers' database; the key in
    # each order's link is signed with the servers' secret, which is the tests' one.
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path / "instance",
            "DATABASE_URL": shop.url,
            "SECRET_KEY": TEST_SECRET,
        }
    )
    references = add_orders(app, *({"status": "paid"} for _ in range(BUYERS)))
    with app.app_context():
        keys = {reference: access_key(reference) for reference in references}
        db.session.remove()
        db.engine.dispose()

    # Each buyer is a browser of its own (its own session cookie, so its own CSRF token),
    # half of them on each server; the servers run on the real clock, so the time chosen is
    # one that every buyer's page offers.
    buyers = [
        (Browser(), (shop.a, shop.b)[n % 2], reference) for n, reference in enumerate(references)
    ]
    pages = []
    for browser, base, reference in buyers:
        page = browser.get(f"{base}/orders/{reference}/call?key={keys[reference]}")
        assert page.status == 200, page.text[:500]
        assert browser.cookie and browser.csrf
        pages.append(offered(page.text))
    common = [start for start in pages[0] if all(start in times for times in pages)]
    assert common, pages[0]
    start = common[0]
    assert len({browser.cookie for browser, _, _ in buyers}) == BUYERS

    barrier = threading.Barrier(BUYERS)

    def choose(buyer):
        browser, base, reference = buyer
        form = {"key": keys[reference], "start": start, "zone": ZONE}
        barrier.wait(timeout=30)
        return browser.post(f"{base}/orders/{reference}/call", form)

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        answers = list(pool.map(choose, buyers))

    statuses = [answer.status for answer in answers]
    assert sorted(statuses) == [303] + [409] * (BUYERS - 1), statuses
    for answer in answers:
        if answer.status == 409:
            assert TAKEN in answer.text, answer.text[:2000]
            fresh = offered(answer.text)
            assert fresh, answer.text[:2000]  # the times still free, to choose again
            assert start not in fresh
    winner = references[statuses.index(303)]

    engine = create_engine(shop.url)
    try:
        with Session(engine) as session:
            winner_id = session.scalar(select(Order.id).where(Order.reference == winner))
            chosen = datetime.fromisoformat(start)
            assert calls_in(session) == [(winner_id, CallStatus.BOOKED, chosen)]
            order_statuses = statuses_in(session, references)
    finally:
        engine.dispose()
    assert order_statuses.pop(winner) == OrderStatus.CALL_SCHEDULED
    assert set(order_statuses.values()) == {OrderStatus.PAID}

    # Both servers answered some of the requests, and neither logged an error.
    log = shop.log()
    assert "Traceback" not in log, log[-3000:]
