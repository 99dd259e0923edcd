"""The dashboard's figures (shop/dashboard/stats.py) on a fixed data set, and the funnel's
steps as buying marks them (shop/funnel.py). Weeks are the studio's (Europe/Berlin): the
period of these tests crosses the spring change of the clocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from shop.bag.models import WishlistItem
from shop.calls.models import Call, CallStatus
from shop.catalog.models import Offer
from shop.dashboard.stats import change, dashboard, week_starts
from shop.extensions import db
from shop.funnel import FunnelOwner
from shop.orders.models import Order
from tests.support.accounts import new_customer, sign_in
from tests.support.checkout import send_field
from tests.support.orders import add_order
from tests.support.shopper import Shopper

BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 7 April 2027: a 4-week period is the weeks of 15, 22 and 29 March and 5 April;
# the clocks went forward on Sunday 28 March, so the week of 29 March starts at 22:00 UTC.
MOMENT = datetime(2027, 4, 7, 12, 0, tzinfo=UTC)
HAT = (("R2 Bucket Hat", 180000, 1),)
DENIM_AND_HAT = (("Durable Object Denim", 320000, 1), ("R2 Bucket Hat", 180000, 2))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def figures(app, weeks: int = 4):
    with app.app_context():
        return dashboard(weeks, moment=MOMENT)


def test_weeks_start_on_the_studios_mondays_through_the_change_of_clocks():
    starts = week_starts(BERLIN, MOMENT, 4)
    assert starts == [
        at("2027-03-14T23:00"),  # Monday 15 March 00:00 CET
        at("2027-03-21T23:00"),
        at("2027-03-28T22:00"),  # Monday 29 March 00:00 CEST
        at("2027-04-04T22:00"),
        at("2027-04-11T22:00"),  # the end of the current week
    ]


def test_orders_and_revenue_per_week(app):
    owner = {"owner_id": uuid.uuid4().hex}
    # Sunday 28 March 23:30 in Berlin: the week of 22 March; paid in the next week.
    add_order(
        app,
        status="paid",
        created_at=at("2027-03-28T21:30"),
        paid_at=at("2027-03-29T08:00"),
        lines=HAT,
        **owner,
    )
    add_order(app, status="submitted", created_at=at("2027-03-28T22:30"), lines=HAT)  # Mon 00:30
    add_order(app, status="pending_payment", created_at=at("2027-03-30T10:00"), lines=HAT)
    add_order(app, status="expired", created_at=at("2027-03-31T10:00"), lines=HAT)
    add_order(app, status="cancelled", created_at=at("2027-04-01T10:00"), lines=HAT)
    add_order(app, status="submitted", created_at=at("2027-03-10T10:00"), lines=HAT)  # before
    add_order(app, status="submitted", created_at=at("2027-04-12T10:00"), lines=HAT)  # after
    found = figures(app)
    assert found.zone == "Europe/Berlin" and found.currency == "USD"
    assert [(week.start.isoformat(), week.placed, week.paid) for week in found.weeks] == [
        ("2027-03-15", 0, 0),
        ("2027-03-22", 1, 0),
        ("2027-03-29", 2, 1),  # the submitted and the cancelled order; the paid one
        ("2027-04-05", 0, 0),
    ]
    assert found.weeks[2].paid_cents == 180000 and found.weeks[2].placed_cents == 360000
    assert (found.totals.placed, found.totals.paid, found.totals.paid_cents) == (3, 1, 180000)
    assert (found.before.placed, found.before.paid) == (1, 0)
    assert change(found.totals.placed, found.before.placed) == 2.0
    assert change(found.totals.paid, found.before.paid) is None
    assert (found.starts, found.ends) == (at("2027-03-14T23:00"), at("2027-04-11T22:00"))


def test_the_periods_are_4_12_and_52_weeks(app):
    assert len(figures(app, 12).weeks) == 12 and len(figures(app, 52).weeks) == 52
    with app.app_context(), pytest.raises(ValueError):
        dashboard(5, moment=MOMENT)


def funnel_rows(app, rows):
    with app.app_context():
        db.session.execute(insert(FunnelOwner), rows)
        db.session.commit()


def book_call(app, reference: str, start: datetime) -> None:
    """A booked hour-long call for the order, written as a row."""
    with app.app_context():
        order_id = db.session.scalar(select(Order.id).where(Order.reference == reference))
        end = start + timedelta(hours=1)
        db.session.add(
            Call(
                uid=f"call-{reference}@example.com",
                order_id=order_id,
                status=CallStatus.BOOKED,
                starts_at=start,
                ends_at=end,
                blocked_until=end,
                sequence=0,
                buyer_zone="Europe/Berlin",
                order_status_before="paid",
                created_at=MOMENT,
                updated_at=MOMENT,
            )
        )
        db.session.commit()


def test_the_funnel_follows_the_owners_who_reached_the_bag_in_the_period(app):
    owners = {name: uuid.uuid4().hex for name in ("paid", "placed", "looked", "earlier")}
    inside, before = at("2027-03-20T10:00"), at("2027-03-01T10:00")
    rows = []
    for name, owner_id in owners.items():
        first = before if name == "earlier" else inside
        went_on = None if name == "looked" else first + timedelta(minutes=5)
        rows.append(
            {"owner_type": "session", "owner_id": owner_id, "bag_at": first, "checkout_at": went_on}
        )
    funnel_rows(app, rows)
    paid = add_order(
        app,
        status="call_scheduled",
        owner_id=owners["paid"],
        created_at=inside,
        paid_at=inside,
        lines=HAT,
    )
    add_order(app, status="submitted", owner_id=owners["placed"], created_at=inside, lines=HAT)
    add_order(
        app, status="paid", owner_id=owners["earlier"], created_at=inside, paid_at=inside, lines=HAT
    )
    book_call(app, paid, at("2027-04-08T08:00"))
    funnel = figures(app).funnel
    assert [(step.key, step.count) for step in funnel] == [
        ("bag", 3),
        ("checkout", 2),
        ("placed", 2),
        ("paid", 1),
        ("call", 1),
    ]
    assert [step.kept for step in funnel] == [None, 2 / 3, 1.0, 0.5, 1.0]
    assert all(step.counts for step in funnel)


def test_what_each_offer_sells_and_who_wished_it_unbought(app):
    buyer, wisher = uuid.uuid4().hex, uuid.uuid4().hex
    inside = at("2027-03-24T10:00")
    add_order(
        app, status="paid", owner_id=buyer, created_at=inside, paid_at=inside, lines=DENIM_AND_HAT
    )
    add_order(app, status="submitted", created_at=inside, lines=HAT)
    add_order(app, status="cancelled", created_at=inside, lines=DENIM_AND_HAT)  # not sold
    add_order(app, status="paid", created_at=at("2027-03-01T10:00"), lines=HAT)  # before
    with app.app_context():
        ids = dict(db.session.execute(select(Offer.slug, Offer.id)).all())
        for owner in (buyer, wisher):
            for slug in ("durable-object-denim", "realtime-websocket-sync-kit"):
                db.session.add(
                    WishlistItem(
                        owner_type="session", owner_id=owner, offer_id=ids[slug], added_at=inside
                    )
                )
        db.session.commit()
    offers = {offer.slug: offer for offer in figures(app).offers}
    assert set(offers) == set(ids)  # every offer of the catalogue, sold or not
    hat, denim = offers["r2-bucket-hat"], offers["durable-object-denim"]
    assert (hat.orders, hat.revenue_cents) == (2, 540000)  # 2 × 180,000 + 1 × 180,000
    assert (denim.orders, denim.revenue_cents) == (1, 320000)
    # The buyer ordered the denim, so only the other owner's wish counts for it.
    assert denim.wishlisted_not_bought == 1
    assert offers["realtime-websocket-sync-kit"].wishlisted_not_bought == 2
    assert [offer.slug for offer in figures(app).offers][:2] == [
        "r2-bucket-hat",
        "durable-object-denim",
    ]


def test_what_waits_for_the_owner(app):
    for status in ("submitted", "submitted", "invoiced", "paid"):
        add_order(app, status=status, lines=HAT)
    booked = add_order(app, status="call_scheduled", lines=HAT)
    later = add_order(app, status="call_scheduled", lines=HAT)
    book_call(app, booked, MOMENT + timedelta(days=2))
    book_call(app, later, MOMENT + timedelta(days=9))
    waiting = figures(app).waiting
    assert (waiting.to_invoice, waiting.payments_to_check) == (2, 1)
    assert waiting.calls_next_7_days == 1
    assert waiting.orders_without_call == 4  # two submitted, one invoiced, one paid


# ---------------------------------------------------------------- the steps as marked


def marked(app) -> dict[tuple[str, str], tuple[bool, bool]]:
    """Each owner's funnel row: whether it reached the bag, the checkout."""
    with app.app_context():
        rows = db.session.execute(select(FunnelOwner)).scalars().all()
        found = {
            (row.owner_type, row.owner_id): (row.bag_at is not None, row.checkout_at is not None)
            for row in rows
        }
        db.session.rollback()
    return found


def test_buying_marks_the_steps_once_and_sign_in_moves_them(app, client):
    shopper = Shopper(client)
    shopper.add("r2-bucket-hat")
    with app.app_context():
        first = db.session.scalar(select(FunnelOwner.bag_at))
    shopper.add("durable-object-denim")
    ((kind, visit),) = marked(app)
    assert kind == "session" and marked(app) == {("session", visit): (True, False)}
    with app.app_context():
        assert db.session.scalar(select(FunnelOwner.bag_at)) == first  # the first time stays
    assert send_field(client, "name", "Ada").status_code == 204
    assert marked(app) == {("session", visit): (True, True)}
    address = new_customer(app)
    sign_in(client, address)
    ((kind, _),) = marked(app)  # moved, not copied
    assert kind == "user" and list(marked(app).values()) == [(True, True)]
