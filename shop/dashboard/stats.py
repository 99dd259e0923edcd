"""The dashboard's figures, from the shop's own tables: orders and revenue per week, the
funnel from bag to call, what each offer sells, and what waits for the owner.

Weeks start on Monday at 00:00 in the studio's zone (``SHOP_STUDIO_TIMEZONE``), so a week
of 12 weeks ago has the boundaries the owner's calendar gives it, clocks changed or not.
A period of N weeks is the N weeks up to and including the current one; "the period
before" is the N weeks just before it. Data only: the views draw it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import and_, bindparam, case, exists, func, literal, select

from shop.bag.models import WishlistItem
from shop.calls.models import Call, CallStatus
from shop.calls.services import BOOKABLE
from shop.calls.zones import studio_zone
from shop.catalog.models import Offer
from shop.clock import now
from shop.extensions import db
from shop.funnel import FunnelOwner
from shop.orders.models import Order, OrderLine, OrderStatus

PERIODS = (4, 12, 52)  # the weeks a period may have
DEFAULT_PERIOD = 12


@dataclass(frozen=True)
class Week:
    """One week of the period: orders placed and paid in it, and their money."""

    start: date  # the Monday, in the studio's zone
    placed: int  # orders placed that week (any status but waiting for or expired unpaid)
    paid: int  # orders whose payment arrived that week (by paid_at)
    placed_cents: int  # the total of the orders placed
    paid_cents: int  # the total of the orders paid (revenue)


@dataclass(frozen=True)
class Totals:
    placed: int
    paid: int
    placed_cents: int
    paid_cents: int


@dataclass(frozen=True)
class Step:
    """One step of the funnel: how many of the visits that put something in the bag during
    the period reached it (and every step before it)."""

    key: str  # bag, checkout, placed, paid, call
    label: str
    counts: str  # what the step counts, in words, for the page
    count: int
    kept: float | None  # the share of the step before that reached this one (None: the
    # first step, or nobody reached the step before)


@dataclass(frozen=True)
class OfferFigures:
    slug: str
    title: str
    orders: int  # orders placed in the period with the offer (not cancelled or expired)
    revenue_cents: int  # the offer's line totals in those orders
    wishlisted_not_bought: int  # wishlists holding it whose owner never ordered it


@dataclass(frozen=True)
class Waiting:
    to_invoice: int  # submitted orders (invoice mode) without an invoice yet
    payments_to_check: int  # invoiced orders whose payment is awaited
    calls_next_7_days: int  # booked calls starting within a week
    orders_without_call: int  # placed or paid orders whose buyer has not booked the call


@dataclass(frozen=True)
class Dashboard:
    weeks_in_period: int  # 4, 12 or 52
    starts: datetime  # the period's first instant (UTC)
    ends: datetime  # its end (UTC, exclusive): the end of the current week
    zone: str  # the studio's zone, in which the weeks are counted
    currency: str
    weeks: list[Week]  # oldest first
    totals: Totals
    before: Totals  # the period before, for the change
    funnel: list[Step]
    offers: list[OfferFigures]  # by revenue, then orders, then title
    waiting: Waiting


def change(now: int, before: int) -> float | None:
    """The change against the period before as a share (0.25 is +25 %); None when there
    was nothing before to compare with."""
    return None if before == 0 else (now - before) / before


# ---------------------------------------------------------------- reading the figures

# Orders that count as placed: everything but an order still waiting for Stripe or left
# unpaid there (the buyer did not finish). Cancelled orders were placed.
_NOT_PLACED = (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED)
# Orders that count as sold: placed and not cancelled.
_NOT_SOLD = (*_NOT_PLACED, OrderStatus.CANCELLED)

STEPS = (
    (
        "bag",
        "Put something in the bag",
        "visitors and customers who first put an offer in the bag during the period",
    ),
    (
        "checkout",
        "Started the checkout",
        "of those, the ones who then saved a checkout draft or sent the checkout form",
    ),
    (
        "placed",
        "Placed an order",
        "of those, the ones with an order placed (invoice mode, or Stripe orders paid)",
    ),
    ("paid", "Paid", "of those, the ones with an order paid (by Stripe, or marked paid)"),
    ("call", "Booked the call", "of those, the ones whose order has a scoping call booked"),
)


def week_starts(zone: ZoneInfo, moment: datetime, weeks: int) -> list[datetime]:
    """The first instants (UTC) of ``weeks`` weeks up to and including the one holding
    ``moment``, oldest first, and the end of that week: ``weeks + 1`` boundaries, each a
    Monday 00:00 in ``zone``."""
    local = moment.astimezone(zone)
    monday = local.date() - timedelta(days=local.weekday())
    days = [monday - timedelta(weeks=back) for back in range(weeks - 1, -2, -1)]
    return [datetime.combine(day, time(), tzinfo=zone).astimezone(UTC) for day in days]


def _bucket(column, marks: list, first: int, last: int):
    """The index of the week ``column`` falls in, between weeks ``first`` and ``last``
    (``marks``: the bound boundaries): a binary search of nested CASEs, so a year of 104
    weeks costs each row 7 comparisons, not up to 104."""
    if first == last:
        return literal(first)
    middle = (first + last) // 2
    return case(
        (column < marks[middle + 1], _bucket(column, marks, first, middle)),
        else_=_bucket(column, marks, middle + 1, last),
    )


_PER_WEEK: dict[tuple[str, int], object] = {}


def _per_week_statement(column, weeks: int):
    """Orders per week of ``column`` for ``weeks`` weeks, with the boundaries as bound
    parameters b0…bN: built once per column and length (building the CASE tree of a year
    costs more than running it)."""
    key = (column.key, weeks)
    statement = _PER_WEEK.get(key)
    if statement is None:
        marks = [bindparam(f"b{index}", type_=column.type) for index in range(weeks + 1)]
        bucket = _bucket(column, marks, 0, weeks - 1).label("week")
        where = [column >= marks[0], column < marks[-1]]
        if column is Order.created_at:
            where.append(Order.status.not_in(_NOT_PLACED))
        statement = _PER_WEEK[key] = (
            select(bucket, func.count(), func.coalesce(func.sum(Order.total_cents), 0))
            .where(*where)
            .group_by(bucket)
        )
    return statement


def _per_week(column, boundaries: list[datetime]) -> dict[int, tuple[int, int]]:
    """Orders per week of ``column`` (created_at: placed, paid_at: paid), {week: (count,
    total cents)}."""
    statement = _per_week_statement(column, len(boundaries) - 1)
    values = {f"b{index}": boundary for index, boundary in enumerate(boundaries)}
    rows = db.session.execute(statement, values)
    return {week: (count, cents) for week, count, cents in rows if week is not None}


def _weeks(boundaries: list[datetime], zone: ZoneInfo) -> list[Week]:
    placed = _per_week(Order.created_at, boundaries)
    paid = _per_week(Order.paid_at, boundaries)
    weeks = []
    for index, start in enumerate(boundaries[:-1]):
        placed_count, placed_cents = placed.get(index, (0, 0))
        paid_count, paid_cents = paid.get(index, (0, 0))
        weeks.append(
            Week(
                start=start.astimezone(zone).date(),
                placed=placed_count,
                paid=paid_count,
                placed_cents=placed_cents,
                paid_cents=paid_cents,
            )
        )
    return weeks


def _totals(weeks: list[Week]) -> Totals:
    return Totals(
        placed=sum(week.placed for week in weeks),
        paid=sum(week.paid for week in weeks),
        placed_cents=sum(week.placed_cents for week in weeks),
        paid_cents=sum(week.paid_cents for week in weeks),
    )


def _funnel(starts: datetime, ends: datetime) -> list[Step]:
    """The owners who first reached the bag in the period, and how many of them reached
    each later step (having reached every step before it).

    The first two steps are one range scan of the funnel's index on (bag_at, checkout_at);
    the order steps start from the period's orders, summed up per owner, and look the owner's
    funnel row up by its key. A year of a busy shop has tens of thousands of funnel rows and
    a few thousand orders: asking every funnel row about its orders instead costs seconds
    (bench/dashboard.py).
    """
    bag_in_period = (FunnelOwner.bag_at >= starts, FunnelOwner.bag_at < ends)
    bagged, checked_out = db.session.execute(
        select(func.count(), func.count(FunnelOwner.checkout_at)).where(*bag_in_period)
    ).one()
    # Every order of an owner who first reached the bag in the period was placed after its
    # start: the period's orders, summed up per owner, drive the count, and each owner's
    # funnel row is looked up by its key. The bag's time is compared through coalesce() so
    # that SQLite's planner does not scan the period's funnel rows and look each one's
    # orders up instead (tens of thousands of rows against a few thousand owners).
    bag_at = func.coalesce(FunnelOwner.bag_at, FunnelOwner.bag_at)
    booked = exists().where(Call.order_id == Order.id, Call.status == CallStatus.BOOKED)
    owners = (
        select(
            Order.owner_type.label("kind"),
            Order.owner_id.label("owner"),
            func.max(case((Order.status.not_in(_NOT_PLACED), 1), else_=0)).label("placed"),
            func.max(case((Order.paid_at.is_not(None), 1), else_=0)).label("paid"),
            func.max(case((booked, 1), else_=0)).label("call"),
        )
        .where(Order.created_at >= starts)
        .group_by(Order.owner_type, Order.owner_id)
        .subquery()
    )
    later = db.session.execute(
        select(
            func.coalesce(func.sum(owners.c.placed), 0),
            func.coalesce(func.sum(owners.c.placed * owners.c.paid), 0),
            func.coalesce(func.sum(owners.c.placed * owners.c.paid * owners.c.call), 0),
        )
        .select_from(owners)
        .join(
            FunnelOwner,
            and_(FunnelOwner.owner_type == owners.c.kind, FunnelOwner.owner_id == owners.c.owner),
        )
        .where(bag_at >= starts, bag_at < ends, FunnelOwner.checkout_at.is_not(None))
    ).one()
    counts = [bagged or 0, checked_out or 0, *later]
    steps = []
    for (key, label, counted), count, before in zip(
        STEPS, counts, (None, *counts[:-1]), strict=True
    ):
        kept = count / before if before else None  # None: the first step, or none before
        steps.append(Step(key=key, label=label, counts=counted, count=count, kept=kept))
    return steps


def _offers(starts: datetime, ends: datetime) -> list[OfferFigures]:
    """What each offer sold in the period, and how many wishlists hold it unbought; every
    offer of the catalogue, and any other an order of the period holds."""
    sold = db.session.execute(
        select(
            OrderLine.slug,
            func.count(func.distinct(OrderLine.order_id)),
            func.coalesce(func.sum(OrderLine.unit_price_cents * OrderLine.quantity), 0),
        )
        .join(Order, Order.id == OrderLine.order_id)
        .where(
            Order.created_at >= starts,
            Order.created_at < ends,
            Order.status.not_in(_NOT_SOLD),
        )
        .group_by(OrderLine.slug)
    ).all()
    bought = exists().where(  # by slug: an order line keeps it when its offer is gone
        OrderLine.slug == Offer.slug,
        Order.id == OrderLine.order_id,
        Order.owner_type == WishlistItem.owner_type,
        Order.owner_id == WishlistItem.owner_id,
        Order.status.not_in(_NOT_PLACED),
    )
    wished = dict(
        db.session.execute(
            select(Offer.slug, func.count())
            .join(WishlistItem, WishlistItem.offer_id == Offer.id)
            .where(~bought)
            .group_by(Offer.slug)
        ).all()
    )
    titles = dict(db.session.execute(select(Offer.slug, Offer.title)).all())
    figures = {slug: (orders, cents) for slug, orders, cents in sold}
    slugs = set(titles) | set(figures)
    if len(slugs) > len(titles):  # offers gone from the catalogue: their titles as sold
        titles.update(
            db.session.execute(
                select(OrderLine.slug, func.max(OrderLine.title))
                .where(OrderLine.slug.in_(slugs - set(titles)))
                .group_by(OrderLine.slug)
            ).all()
        )
    offers = [
        OfferFigures(
            slug=slug,
            title=titles.get(slug, slug),
            orders=figures.get(slug, (0, 0))[0],
            revenue_cents=figures.get(slug, (0, 0))[1],
            wishlisted_not_bought=wished.get(slug, 0),
        )
        for slug in slugs
    ]
    return sorted(offers, key=lambda item: (-item.revenue_cents, -item.orders, item.title))


def _waiting(moment: datetime) -> Waiting:
    by_status = dict(
        db.session.execute(
            select(Order.status, func.count())
            .where(Order.status.in_((OrderStatus.SUBMITTED, OrderStatus.INVOICED)))
            .group_by(Order.status)
        ).all()
    )
    calls = db.session.scalar(
        select(func.count())
        .select_from(Call)
        .where(
            Call.status == CallStatus.BOOKED,
            Call.starts_at >= moment,
            Call.starts_at < moment + timedelta(days=7),
        )
    )
    booked = exists().where(Call.order_id == Order.id, Call.status == CallStatus.BOOKED)
    without_call = db.session.scalar(
        select(func.count()).select_from(Order).where(Order.status.in_(BOOKABLE), ~booked)
    )
    return Waiting(
        to_invoice=by_status.get(OrderStatus.SUBMITTED, 0),
        payments_to_check=by_status.get(OrderStatus.INVOICED, 0),
        calls_next_7_days=calls or 0,
        orders_without_call=without_call or 0,
    )


def dashboard(weeks: int = DEFAULT_PERIOD, moment: datetime | None = None) -> Dashboard:
    """Every figure of the dashboard for the last ``weeks`` weeks (one of PERIODS)."""
    if weeks not in PERIODS:
        raise ValueError(f"a period is one of {PERIODS} weeks")
    moment = moment or now()
    zone = studio_zone(current_app.config)
    boundaries = week_starts(zone, moment, 2 * weeks)  # the period before, then this one
    all_weeks = _weeks(boundaries, zone)
    before, current = all_weeks[:weeks], all_weeks[weeks:]
    starts, ends = boundaries[weeks], boundaries[-1]
    # The catalogue's currency (one per shop; an order's is its offers').
    currency = db.session.scalar(select(Offer.currency).order_by(Offer.id).limit(1))
    return Dashboard(
        weeks_in_period=weeks,
        starts=starts,
        ends=ends,
        zone=zone.key,
        currency=currency or "USD",
        weeks=current,
        totals=_totals(current),
        before=_totals(before),
        funnel=_funnel(starts, ends),
        offers=_offers(starts, ends),
        waiting=_waiting(moment),
    )
