"""Dashboard benchmark: the owner's figures over a year of a busy shop's data.

Fills scratch databases through the real migrations and the catalogue with a year of
traffic, inserted in bulk (Core ``insert`` with lists of rows, 5,000 a batch):

* 50,000 visits (``sessions`` rows, created over the last 365 days) that each put
  something in the bag (a ``funnel`` row per visit, ``bag_at`` minutes after it began);
* 15,000 of them started the checkout (``checkout_at`` set): the 5,000 buyers and 10,000
  more;
* 5,000 orders over the year, one per buyer's visit (so the funnel joins), with 1–3 lines
  of the catalogue's offers; mostly paid, call scheduled or completed, some submitted,
  invoiced, cancelled, expired or waiting for payment; ``paid_at`` set for the paid ones;
* 2,000 booked calls on call-scheduled and completed orders, each on a whole hour of its own
  (none overlapping), a day to a week after its order: the latest ones in the coming week;
* 3,000 wishlist items over the visits and the catalogue's offers.

Then ``ANALYZE`` (PostgreSQL: ``VACUUM ANALYZE``), the steady state autovacuum keeps.

It times ``shop.dashboard.stats.dashboard(weeks)`` for 4, 12 and 52 weeks (every figure the
page shows), ``--runs`` times each after a warm-up, each in an app context of its own as a
request has. When the page exists (``/admin/dashboard`` in the app's URL map) it also times
the whole page through Flask's test client as a signed-in administrator (``?weeks=4``, 12,
52): the session, the admin check, the figures and the template. ``--statements`` prints
each statement of ``dashboard(52)`` with its time, the plan's first lines with ``--plans``.

    .venv/bin/python bench/dashboard.py                      # SQLite
    .venv/bin/python bench/dashboard.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/dashboard.py --runs 300 --no-sqlite --pg URL --statements

SQLite runs in a temporary directory. PostgreSQL runs when ``--pg`` or
SHOP_BENCH_DATABASE_URL names a database (``--no-pg`` skips it), in a scratch schema dropped
afterwards. Exits 1 unless every p95 is under 100 ms. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import event, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scratch  # noqa: E402
from shop.accounts.services import make_admin  # noqa: E402
from shop.bag.models import WishlistItem  # noqa: E402
from shop.calls.models import Call, CallStatus  # noqa: E402
from shop.catalog.models import Offer  # noqa: E402
from shop.clock import now  # noqa: E402
from shop.dashboard.stats import PERIODS, dashboard  # noqa: E402
from shop.extensions import db  # noqa: E402
from shop.funnel import FunnelOwner  # noqa: E402
from shop.orders.models import Order, OrderLine, OrderStatus  # noqa: E402
from shop.sessions import SessionRecord  # noqa: E402
from tests.support.orders import order_values  # noqa: E402

SESSIONS = 50_000
CHECKOUTS = 15_000  # visits that started the checkout, the buyers among them
ORDERS = 5_000
CALLS = 2_000
WISHES = 3_000
BATCH = 5_000
DAYS = 365
GOAL_MS = 100.0
PAGE = "/admin/dashboard"
ADMIN = ("owner@example.com", "a long bench password 16")
# (status, share of the orders); paid_at is set for the paid ones and those after them.
STATUS_SHARES = (
    (OrderStatus.PAID, 0.22),
    (OrderStatus.CALL_SCHEDULED, 0.22),
    (OrderStatus.COMPLETED, 0.28),
    (OrderStatus.SUBMITTED, 0.05),
    (OrderStatus.INVOICED, 0.05),
    (OrderStatus.CANCELLED, 0.06),
    (OrderStatus.EXPIRED, 0.06),
    (OrderStatus.PENDING_PAYMENT, 0.06),
)
PAID = {OrderStatus.PAID, OrderStatus.CALL_SCHEDULED, OrderStatus.COMPLETED}
HIDDEN_RE = re.compile(r'<input[^>]*type="hidden"[^>]*>')
NAME_RE = re.compile(r'name="([^"]+)"')
VALUE_RE = re.compile(r'value="([^"]*)"')


@dataclass
class Result:
    backend: str
    what: str  # "service" or "page"
    weeks: int
    statements: int  # statements one run sends
    spent: list[float]  # ms per run


def scratch_app(backend: str, pg_url: str | None):
    """An app on a migrated scratch database holding the catalogue."""
    return scratch.backend_app("dashboard", backend, pg_url, catalog=True, TESTING=True)


def bulk(table, rows: list[dict]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(table), rows[start : start + BATCH])


def fill(app: Flask) -> dict[str, int]:
    """A year of a busy shop (see the module's docstring); the rows per table."""
    rng = random.Random(16)
    moment = now()
    with app.app_context():
        offers = list(db.session.scalars(select(Offer).order_by(Offer.id)))
        # The visits, and their first bag line minutes after they began.
        visits = []
        for _ in range(SESSIONS):
            key = hashlib.sha256(rng.randbytes(32)).hexdigest()
            begun = moment - timedelta(seconds=rng.uniform(3600, DAYS * 86400))
            visits.append((key, begun, begun + timedelta(minutes=rng.uniform(1, 30))))
        bulk(
            SessionRecord,
            [
                {
                    "id": key,
                    "data": "{}",
                    "created_at": begun,
                    "expires_at": begun + timedelta(days=30),
                    "user_id": None,
                }
                for key, begun, _ in visits
            ],
        )
        # The checkouts (the first ORDERS of them are the buyers), and the orders.
        checkouts = rng.sample(visits, CHECKOUTS)
        started = [
            (key, bagged + timedelta(minutes=rng.uniform(1, 20))) for key, _, bagged in checkouts
        ]
        checked_out = dict(started)
        bulk(
            FunnelOwner,
            [
                {
                    "owner_type": "session",
                    "owner_id": key,
                    "bag_at": bagged,
                    "checkout_at": checked_out.get(key),
                }
                for key, _, bagged in visits
            ],
        )
        statuses = [status for status, _ in STATUS_SHARES]
        weights = [share for _, share in STATUS_SHARES]
        references: set[str] = set()
        orders, lines_of = [], {}
        for key, at in started[:ORDERS]:
            placed = min(at + timedelta(minutes=rng.uniform(2, 30)), moment)
            status = rng.choices(statuses, weights)[0]
            chosen = rng.sample(offers, rng.randint(1, min(3, len(offers))))
            lines = [(offer, rng.choice((1, 1, 1, 2))) for offer in chosen]
            reference = f"EG-{len(references):04d}-{rng.randrange(16**4):04X}"
            references.add(reference)
            paid_at = None
            if status in PAID:
                paid_at = min(placed + timedelta(hours=rng.uniform(0.01, 72)), moment)
            orders.append(
                {
                    **order_values(
                        reference=reference,
                        owner_id=key,
                        status=status,
                        created_at=placed,
                        paid_at=paid_at,
                        checkout_token=uuid.UUID(int=rng.getrandbits(128)).hex,
                        compliance_json=json.dumps(["gdpr"]),
                    ),
                    "updated_at": paid_at or placed,
                    "total_cents": sum(o.price_cents * quantity for o, quantity in lines),
                }
            )
            lines_of[reference] = lines
        bulk(Order, orders)
        ids = dict(db.session.execute(select(Order.reference, Order.id)).all())
        bulk(
            OrderLine,
            [
                {
                    "order_id": ids[reference],
                    "offer_id": offer.id,
                    "slug": offer.slug,
                    "title": offer.title,
                    "unit_price_cents": offer.price_cents,
                    "currency": offer.currency,
                    "quantity": quantity,
                }
                for reference, lines in lines_of.items()
                for offer, quantity in lines
            ],
        )
        # Booked calls: on whole hours of their own, a day to a week after the order.
        callable_orders = [
            row
            for row in orders
            if row["status"] in (OrderStatus.CALL_SCHEDULED, OrderStatus.COMPLETED)
        ]
        taken: set[datetime] = set()
        calls = []
        for number, row in enumerate(rng.sample(callable_orders, min(CALLS, len(callable_orders)))):
            start = row["created_at"].replace(minute=0, second=0, microsecond=0) + timedelta(
                hours=rng.randint(24, 7 * 24)
            )
            while start in taken:
                start += timedelta(hours=1)
            taken.add(start)
            calls.append(
                {
                    "uid": f"call-bench-{number}@example.com",
                    "order_id": ids[row["reference"]],
                    "status": CallStatus.BOOKED,
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=1),
                    "blocked_until": start + timedelta(hours=1),
                    "sequence": 0,
                    "buyer_zone": "Europe/Berlin",
                    "order_status_before": "paid",
                    "reminded_at": None,
                    "created_at": row["created_at"],
                    "updated_at": row["created_at"],
                    "cancelled_at": None,
                }
            )
        bulk(Call, calls)
        # Wishlists: visits with one to four of the offers.
        wished: set[tuple[str, int]] = set()
        while len(wished) < WISHES:
            wished.add((rng.choice(visits)[0], rng.choice(offers).id))
        by_key = {key: bagged for key, _, bagged in visits}
        bulk(
            WishlistItem,
            [
                {
                    "owner_type": "session",
                    "owner_id": key,
                    "offer_id": offer_id,
                    "added_at": by_key[key],
                }
                for key, offer_id in sorted(wished)
            ],
        )
        db.session.commit()
        analyze()
        db.session.remove()
    return {
        "sessions": len(visits),
        "funnel rows": len(visits),
        "orders": len(orders),
        "order_lines": sum(len(lines) for lines in lines_of.values()),
        "calls": len(calls),
        "wishlist_items": len(wished),
    }


def analyze() -> None:
    """The steady state autovacuum keeps: statistics for the planner."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        postgres = db.engine.dialect.name == "postgresql"
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))


@contextmanager
def recorded(app: Flask) -> Iterator[list[tuple[str, object, float]]]:
    """The statements the app's engine runs in the block: (SQL, parameters, ms)."""
    sent: list[tuple[str, object, float]] = []
    with app.app_context():
        engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        spent = (time.perf_counter() - conn.info.pop("bench_started")) * 1000
        sent.append((statement, parameters, spent))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def timed(run: Callable[[], None], runs: int, warm: int = 5) -> list[float]:
    for _ in range(warm):  # warm up: statements compiled, pages cached by the database
        run()
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def service_run(app: Flask, weeks: int) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():  # a request's own context: nothing kept between runs
            dashboard(weeks)
            db.session.remove()

    return run


def admin_client(app: Flask):
    """A test client signed in as an administrator, through the sign-in form."""
    with app.app_context():
        make_admin(*ADMIN)
        db.session.remove()
    client = app.test_client()
    page = client.get("/account/sign-in").get_data(as_text=True)
    form = {}
    for field in HIDDEN_RE.findall(page):
        name, value = NAME_RE.search(field), VALUE_RE.search(field)
        if name:
            form[name[1]] = value[1] if value else ""
    if "csrf_token" not in form:
        raise RuntimeError("the sign-in page has no csrf_token")
    form.update(email=ADMIN[0], password=ADMIN[1], next="")
    answer = client.post("/account/sign-in", data=form)
    if answer.status_code != 303:
        raise RuntimeError(f"signing in answered {answer.status_code}")
    return client


def page_run(client, weeks: int) -> Callable[[], None]:
    def run() -> None:
        answer = client.get(f"{PAGE}?weeks={weeks}")
        if answer.status_code != 200:
            raise RuntimeError(f"{PAGE}?weeks={weeks} answered {answer.status_code}")

    return run


def count_statements(app: Flask, run: Callable[[], None]) -> int:
    with recorded(app) as sent:
        run()
    return len(sent)


def has_page(app: Flask) -> bool:
    return any(rule.rule == PAGE for rule in app.url_map.iter_rules())


def measure(app: Flask, backend: str, runs: int) -> list[Result]:
    results = []
    for weeks in PERIODS:
        run = service_run(app, weeks)
        results.append(
            Result(backend, "service", weeks, count_statements(app, run), timed(run, runs))
        )
        print(line(results[-1]), flush=True)
    if has_page(app):
        client = admin_client(app)
        for weeks in PERIODS:
            run = page_run(client, weeks)
            results.append(
                Result(backend, "page", weeks, count_statements(app, run), timed(run, runs))
            )
            print(line(results[-1]), flush=True)
    else:
        print(f"{backend:<10} page: {PAGE} is not in the app yet, not timed", flush=True)
    return results


def statements(app: Flask, backend: str, plans: bool, runs: int = 5) -> None:
    """Each statement of ``dashboard(52)``: its median time over ``runs`` runs, and with
    ``plans`` the first lines of its plan (EXPLAIN ANALYZE, or EXPLAIN QUERY PLAN)."""
    samples: list[list[tuple[str, object, float]]] = []
    for _ in range(runs):
        with recorded(app) as sent:
            service_run(app, 52)()
        samples.append(sent)
    print(f"\n{backend}: the statements of dashboard(52), median of {runs} runs")
    for index, (statement, parameters, _) in enumerate(samples[0]):
        spent = statistics.median(sample[index][2] for sample in samples)
        print(f"\n-- {index + 1}: {spent:.2f} ms\n{statement.strip()}")
        if not plans:
            continue
        postgres = backend == "postgresql"
        prefix = "EXPLAIN (ANALYZE, BUFFERS) " if postgres else "EXPLAIN QUERY PLAN "
        with app.app_context():
            raw = db.engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute(prefix + statement, parameters)
                for row in cursor.fetchall():
                    print("   ", row[0] if postgres else row[-1])
            finally:
                raw.close()


def run(backends: list[str], pg_url: str | None, runs: int, show: bool, plans: bool) -> bool:
    results: list[Result] = []
    for backend in backends:
        with scratch_app(backend, pg_url) as app:
            started = time.perf_counter()
            rows = fill(app)
            print(
                f"{backend}: filled in {time.perf_counter() - started:.1f} s: "
                + ", ".join(f"{count:,} {table}" for table, count in rows.items()),
                flush=True,
            )
            results += measure(app, backend, runs)
            if show or plans:
                statements(app, backend, plans)
    print()
    print("| backend | what | weeks | statements | p50 / p95 / max ms | p95 < 100 ms |")
    print("|---|---|---:|---:|---:|---|")
    met = True
    for result in results:
        ok = scratch.percentile(result.spent, 0.95) < GOAL_MS
        met = met and ok
        print(
            f"| {result.backend} | {result.what} | {result.weeks} | {result.statements} | "
            f"{spread(result.spent)} | {'yes' if ok else 'no'} |"
        )
    print(
        f"\n{runs} runs each; Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
        f"; every p95 under {GOAL_MS:g} ms: {'yes' if met else 'NO'}"
    )
    return met


def spread(values: list[float]) -> str:
    numbers = (statistics.median(values), scratch.percentile(values, 0.95), max(values))
    return " / ".join(f"{number:.1f}" for number in numbers)


def line(result: Result) -> str:
    return (
        f"{result.backend:<10} {result.what:<7} {result.weeks:>2} weeks  "
        f"{result.statements:>2} statements  p50 / p95 / max {spread(result.spent)} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="timed runs per period")
    parser.add_argument("--pg", default=os.environ.get("SHOP_BENCH_DATABASE_URL"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--statements", action="store_true", help="each statement of dashboard(52), timed"
    )
    parser.add_argument("--plans", action="store_true", help="and each one's plan")
    args = parser.parse_args()
    backends = [] if args.no_sqlite else ["sqlite"]
    if args.pg and not args.no_pg:
        backends.append("postgresql")
    if not backends:
        parser.error("nothing to run")
    return 0 if run(backends, args.pg, args.runs, args.statements, args.plans) else 1


if __name__ == "__main__":
    sys.exit(main())
