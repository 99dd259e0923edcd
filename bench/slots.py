"""Free times benchmark: listing 30 days of an order's free call times, with 500 calls booked.

Fills scratch databases through the real migrations with 500 booked calls spread over the
next 30 days (rows inserted directly, one order each, none overlapping: each on a whole hour,
an hour long), and one paid order whose call is to be booked. Then it times
``shop.calls.services.free_times(order)`` (the studio's limits row read, its hours and the
booked calls taken from the process's cache for that row's versions, the call's length read,
the slots computed: what the call page does) ``--runs`` times, each in an app context of its
own with the order loaded as a request loads it. For the breakdown it also times,
alternating with those, the first listing after a change (the cache of booked calls
forgotten, as after any booking, move or cancellation: every booked call read again), and
the pure ``shop.calls.slots.free_slots`` over the same rules and busy times.

Three studios over the same database:

* ``dense``: open every day 00:00–24:00, a 15-minute grid, up to 48 calls a day, no buffer
  (so the 500 calls fit and every day still has room: the most slots to compute, about 2,800);
* ``default, 500 calls``: the migration's hours (Mon–Fri 09:00–17:00, 30-minute grid, 4 a
  day, 15 minutes of buffer) over the same 500 calls: every day is full, no free time;
* ``default, 2 a day``: the migration's hours with only 2 calls on each working day (the
  others cancelled): a studio's ordinary month.

    .venv/bin/python bench/slots.py                      # SQLite
    .venv/bin/python bench/slots.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/slots.py --runs 500 --no-sqlite --pg URL

SQLite runs in a temporary directory. PostgreSQL runs when ``--pg`` or
SHOP_BENCH_DATABASE_URL names a database (``--no-pg`` skips it), in a scratch schema dropped
afterwards. Exits 1 when a p95 of ``free_times`` is 5 ms or more. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import Flask
from sqlalchemy import delete, insert, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scratch  # noqa: E402
from shop.calls import services  # noqa: E402
from shop.calls.models import Call, CallSettings, CallStatus, StudioHours  # noqa: E402
from shop.calls.slots import free_slots  # noqa: E402
from shop.clock import now  # noqa: E402
from shop.extensions import db  # noqa: E402
from shop.orders.models import Order  # noqa: E402
from shop.orders.services import get_order  # noqa: E402
from tests.support.orders import add_orders  # noqa: E402

CALLS = 500
DAYS = 30
GOAL_MS = 5.0
DEFAULT_HOURS = [(weekday, 9 * 60, 17 * 60) for weekday in range(5)]
DEFAULT_LIMITS = {"step_minutes": 30, "buffer_minutes": 15, "max_per_day": 4, "window_days": 30}
DENSE_HOURS = [(weekday, 0, 24 * 60) for weekday in range(7)]
DENSE_LIMITS = {"step_minutes": 15, "buffer_minutes": 0, "max_per_day": 48, "window_days": 30}


@dataclass
class Result:
    backend: str
    studio: str
    busy: int  # booked calls the listing reads
    free: int  # free times it lists
    service: list[float]  # ms per free_times
    reads: list[float]  # ms per listing right after a change (every booked call read)
    pure: list[float]  # ms per free_slots


def scratch_app(backend: str, pg_url: str | None):
    """An app on a migrated scratch database."""
    return scratch.backend_app("slots", backend, pg_url, TESTING=True)


def fill(app: Flask) -> str:
    """Insert 500 booked calls (one order each) on distinct whole hours of the next 30 days,
    and the paid order to list free times for; that order's reference."""
    first_hour = now().replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    hours = sorted(random.Random(7).sample(range(DAYS * 24), CALLS))
    references = add_orders(app, *({"status": "call_scheduled"} for _ in range(CALLS)))
    chosen = add_orders(app, {"status": "paid"})[0]
    with app.app_context():
        ids = dict(
            db.session.execute(
                select(Order.reference, Order.id).where(Order.reference.in_(references))
            ).all()
        )
        moment = now()
        rows = []
        for number, (reference, hour) in enumerate(zip(references, hours, strict=True)):
            start = first_hour + timedelta(hours=hour)
            rows.append(
                {
                    "uid": f"call-bench-{number}@example.com",
                    "order_id": ids[reference],
                    "status": CallStatus.BOOKED,
                    "starts_at": start,
                    "ends_at": start + timedelta(hours=1),
                    "blocked_until": start + timedelta(hours=1),
                    "sequence": 0,
                    "buyer_zone": "Europe/Berlin",
                    "order_status_before": "paid",
                    "created_at": moment,
                    "updated_at": moment,
                }
            )
        db.session.execute(insert(Call), rows)
        calls_changed()
        db.session.commit()
        analyze()
        db.session.remove()
    return chosen


def analyze() -> None:
    """The steady state autovacuum keeps: statistics for the planner."""
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        postgres = db.engine.dialect.name == "postgresql"
        conn.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))


def calls_changed() -> None:
    """Calls written here in SQL, as the shop's services would: a new calls_version, so the
    shop's cached busy times are read again."""
    db.session.execute(
        update(CallSettings).where(CallSettings.id == 1).values(calls_version=uuid.uuid4().hex)
    )


def set_studio(app: Flask, hours: list[tuple[int, int, int]], limits: dict[str, int]) -> None:
    with app.app_context():
        db.session.execute(delete(StudioHours))
        db.session.execute(
            insert(StudioHours),
            [{"weekday": d, "start_minute": s, "end_minute": e} for d, s, e in hours],
        )
        # A new version of the limits row: the shop's cached hours are read again.
        db.session.execute(
            update(CallSettings)
            .where(CallSettings.id == 1)
            .values(**limits, hours_version=uuid.uuid4().hex, updated_at=datetime.now(UTC))
        )
        db.session.commit()
        db.session.remove()


def thin_out(app: Flask, per_day: int) -> None:
    """Cancel booked calls until each of the studio's working days keeps ``per_day``
    (weekends none)."""
    with app.app_context():
        zone = services.zone()
        kept: dict = {}
        cancel = []
        for call_id, start in db.session.execute(
            select(Call.id, Call.starts_at)
            .where(Call.status == CallStatus.BOOKED)
            .order_by(Call.starts_at)
        ):
            local = services.as_utc(start).astimezone(zone)
            day = local.date()
            working = day.weekday() < 5 and 9 <= local.hour < 17
            if working and kept.get(day, 0) < per_day:
                kept[day] = kept.get(day, 0) + 1
            else:
                cancel.append(call_id)
        db.session.execute(
            update(Call).where(Call.id.in_(cancel)).values(status=CallStatus.CANCELLED)
        )
        calls_changed()
        db.session.commit()
        analyze()
        db.session.remove()


def timed(run: Callable[[], object], runs: int) -> list[float]:
    for _ in range(10):  # warm up: statements compiled, zone data loaded
        run()
    spent = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        spent.append((time.perf_counter() - started) * 1000)
    return spent


def measure(app: Flask, backend: str, studio: str, reference: str, runs: int) -> Result:
    service: list[float] = []

    def listing() -> None:
        # One request's worth: its own app context, the order loaded, then the listing.
        with app.app_context():
            order = get_order(reference)
            started = time.perf_counter()
            services.free_times(order)
            service.append((time.perf_counter() - started) * 1000)
            db.session.remove()

    reads: list[float] = []

    def reading() -> None:
        # The first listing after a booking, move or cancellation anywhere: the busy times
        # cached for the last calls_version do not serve, every booked call is read again.
        with app.app_context():
            order = get_order(reference)
            services.forget_busy_times()
            started = time.perf_counter()
            services.free_times(order)
            reads.append((time.perf_counter() - started) * 1000)
            db.session.remove()

    for _ in range(10):  # warm up
        listing()
        reading()
    for _ in range(runs):  # alternating, so a change of the machine's speed touches both
        listing()
        reading()
    service, reads = service[10:], reads[10:]
    with app.app_context():
        order = get_order(reference)
        moment = now()
        rules = services.rules(moment=moment)
        busy = services.busy_times(
            moment - timedelta(days=1), moment + rules.window + timedelta(days=2)
        )
        length = services.call_length(order)
        free = services.free_times(order)
        pure = timed(lambda: free_slots(rules, length, busy, moment), runs)
        db.session.remove()
    return Result(backend, studio, len(busy), len(free), service, reads, pure)


def run(backends: list[str], pg_url: str | None, runs: int) -> bool:
    results: list[Result] = []
    for backend in backends:
        with scratch_app(backend, pg_url) as app:
            reference = fill(app)
            set_studio(app, DENSE_HOURS, DENSE_LIMITS)
            results.append(measure(app, backend, "dense", reference, runs))
            set_studio(app, DEFAULT_HOURS, DEFAULT_LIMITS)
            results.append(measure(app, backend, "default, 500 calls", reference, runs))
            thin_out(app, 2)
            results.append(measure(app, backend, "default, 2 a day", reference, runs))
        for result in results[-3:]:
            print(line(result), flush=True)
    print()
    print(
        "| backend | studio | busy | free times | free_times p50 / p95 / max ms | "
        "first after a change p50 / p95 ms | free_slots p50 / p95 / max ms | p95 < 5 ms |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")
    met = True
    for result in results:
        ok = scratch.percentile(result.service, 0.95) < GOAL_MS
        met = met and ok
        print(
            f"| {result.backend} | {result.studio} | {result.busy} | {result.free:,} | "
            f"{spread(result.service)} | {spread(result.reads, 2)} | {spread(result.pure)} | "
            f"{'yes' if ok else 'no'} |"
        )
    print(
        f"\n{runs} runs each; Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}"
        f"; p95 of free_times under {GOAL_MS:g} ms everywhere: {'yes' if met else 'NO'}"
    )
    return met


def spread(values: list[float], parts: int = 3) -> str:
    """p50 / p95 / max (or the first ``parts`` of them) in ms."""
    numbers = (statistics.median(values), scratch.percentile(values, 0.95), max(values))
    return " / ".join(f"{number:.2f}" for number in numbers[:parts])


def line(result: Result) -> str:
    return (
        f"{result.backend:<10} {result.studio:<19} busy {result.busy:>3}  free {result.free:>5}"
        f"  free_times {spread(result.service)}  after a change {spread(result.reads, 2)}"
        f"  free_slots {spread(result.pure)} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="timed listings per studio")
    parser.add_argument("--pg", default=os.environ.get("SHOP_BENCH_DATABASE_URL"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    backends = [] if args.no_sqlite else ["sqlite"]
    if args.pg and not args.no_pg:
        backends.append("postgresql")
    if not backends:
        parser.error("nothing to run")
    return 0 if run(backends, args.pg, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
