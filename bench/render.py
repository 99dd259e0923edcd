"""What one request costs the shop's process, measured in process.

Flask's test client sends each request through the whole app (the WSGI middleware, the
session, the extensions, the view, the template) without a socket, and the CPU time the
process spends on it is read with ``time.process_time``. In the same run, the same test
client asks a bare Flask app (``bench/bare_app.py``: one view, a fixed 2 KB page) the same
number of times; each scenario's cost is printed as a multiple of the bare request's.

The visitor has a cookie and one line in the bag, as a returning visitor does. The shop
runs on a scratch SQLite file (or, with ``--pg URL``, a scratch PostgreSQL schema), migrated
and filled with the catalogue.

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/render.py --rounds 7 --requests 200 --markdown

Each scenario runs ``--rounds`` rounds of ``--requests`` requests, interleaved with the
bare app's rounds (so a change of the machine's speed during the run touches both), and the
median round is taken. Every answer's status is checked: an error page is never timed.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from bench import scratch  # noqa: E402
from bench.bare_app import app as bare_app  # noqa: E402

HX = {"HX-Request": "true"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Callable[[int], str]  # the request's path for its n-th sending
    headers: dict[str, str]
    goal: float | None  # at most this many bare requests' CPU time


SCENARIOS = (
    Scenario("home", lambda n: "/", {}, 6),
    Scenario("offer", lambda n: "/offers/r2-bucket-hat", {}, 5),
    # A query not asked before on every request: what a cache would miss.
    Scenario("search", lambda n: f"/search?q=sync+{n}", {}, 7),
    Scenario("counters", lambda n: "/bag/counters", HX, 3),
    Scenario("healthz", lambda n: "/healthz", {}, 2),
)


def scratch_app(folder: Path, pg_url: str | None):
    """The shop on a migrated scratch database holding the catalogue."""
    return scratch.scratch_app("render", folder, pg_url, catalog=True, RATELIMIT_ENABLED=False)


def returning_visitor(app: Flask) -> FlaskClient:
    """A test client holding a session cookie and one bag line."""
    client = app.test_client()
    page = client.get("/offers/r2-bucket-hat").get_data(as_text=True)
    csrf, token = CSRF_RE.search(page), TOKEN_RE.search(page)
    if not (csrf and token):
        raise RuntimeError("the offer page has no add form")
    answer = client.post(
        "/bag/add",
        data={"csrf_token": csrf[1], "offer": "r2-bucket-hat", "token": token[1], "quantity": "1"},
    )
    if answer.status_code != 303:
        raise RuntimeError(f"adding to the bag answered {answer.status_code}")
    if "1" not in client.get("/bag/counters", headers=HX).get_data(as_text=True):
        raise RuntimeError("the bag counter does not show the line")
    return client


def cpu_per_request(send: Callable[[int], int], numbers: Iterator[int], requests: int) -> float:
    """CPU seconds per request over ``requests`` sendings; every answer must be a 200."""
    start = time.process_time()
    for _ in range(requests):
        status = send(next(numbers))
        if status != 200:
            raise RuntimeError(f"an answer had status {status}")
    return (time.process_time() - start) / requests


def measure(app: Flask, rounds: int, requests: int) -> tuple[float, dict[str, float]]:
    """The bare request's median CPU time, and each scenario's."""
    bare = bare_app.test_client()
    visitor = returning_visitor(app)
    numbers = itertools.count()

    def bare_send(_n: int) -> int:
        return bare.get("/").status_code

    def sender(scenario: Scenario) -> Callable[[int], int]:
        def send(n: int) -> int:
            return visitor.get(scenario.path(n), headers=scenario.headers).status_code

        return send

    for scenario in SCENARIOS:  # warm up: templates compiled, statements cached
        cpu_per_request(sender(scenario), numbers, 20)
    cpu_per_request(bare_send, numbers, 50)
    bare_rounds: list[float] = []
    shop_rounds: dict[str, list[float]] = {s.name: [] for s in SCENARIOS}
    for _ in range(rounds):
        bare_rounds.append(cpu_per_request(bare_send, numbers, requests))
        for scenario in SCENARIOS:
            shop_rounds[scenario.name].append(cpu_per_request(sender(scenario), numbers, requests))
    bare_rounds.append(cpu_per_request(bare_send, numbers, requests))
    return statistics.median(bare_rounds), {
        name: statistics.median(values) for name, values in shop_rounds.items()
    }


def report(backend: str, bare: float, shop: dict[str, float], markdown: bool) -> bool:
    met = True
    rows = [("bare", bare, None)] + [(s.name, shop[s.name], s.goal) for s in SCENARIOS]
    if markdown:
        print("| backend | scenario | CPU ms/req | × bare | goal |")
        print("|---|---|---:|---:|---|")
    for name, seconds, goal in rows:
        ratio = seconds / bare
        verdict = ""
        if goal is not None:
            verdict = f"≤ {goal}: " + ("met" if ratio <= goal else "missed")
            met = met and ratio <= goal
        if markdown:
            print(f"| {backend} | {name} | {seconds * 1000:.3f} | {ratio:.1f} | {verdict} |")
        else:
            print(f"{backend:10} {name:9} {seconds * 1000:8.3f} ms  {ratio:6.1f}×  {verdict}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--pg", default=os.environ.get("SHOP_BENCH_DATABASE_URL"))
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    backends = ([] if args.no_sqlite else [("sqlite", None)]) + (
        [("postgresql", args.pg)] if args.pg else []
    )
    met = True
    for backend, url in backends:
        with tempfile.TemporaryDirectory() as folder, scratch_app(Path(folder), url) as app:
            bare, shop = measure(app, args.rounds, args.requests)
            met = report(backend, bare, shop, args.markdown) and met
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
