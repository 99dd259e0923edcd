"""Faults under real processes and real HTTP: a worker killed in the middle of a burst of
orders, SQLite locked longer than the busy timeout, PostgreSQL restarted under traffic, and
Stripe unreachable or slow. On the suite's database (SQLite, or PostgreSQL when
SHOP_TEST_DATABASE_URL is set); the restart test runs a PostgreSQL cluster of its own."""

from __future__ import annotations

import http.client
import os
import pwd
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from shop.config import Defaults
from shop.db import BUSY_TIMEOUT_MS
from shop.errors import RETRY_AFTER
from shop.orders.models import Order
from shop.payments.services import MAX_NETWORK_RETRIES, PaymentUnavailable
from tests.support.catalogue import DENIM, HAT, JACKET, KIT
from tests.support.checkout import checkout_fields
from tests.support.database import PG_URL, fresh_database, migrated_database
from tests.support.fakestripe import FakeStripe
from tests.support.live import Answer, Browser, add, counters, free_port, serve
from tests.support.pagetext import page_text
from tests.support.shopper import CHECKOUT_FORM

SLUGS = [JACKET, DENIM, KIT, HAT]
BUSY_TEXT = "Please try again in a few seconds"


def checkout_form(browser: Browser, base: str, email: str) -> dict:
    """The checkout page's form as a browser would send it: hidden token and fingerprint."""
    page = browser.get(f"{base}/checkout")
    assert page.status == 200, page.location
    return {**CHECKOUT_FORM, "email": email, **checkout_fields(page.text)}


def order_reference(answer: Answer) -> str | None:
    """The order an answer sends the browser to (303 to /orders/<reference>?key=...)."""
    path = urlsplit(answer.location).path
    if answer.status == 303 and path.startswith("/orders/"):
        return path.removeprefix("/orders/")
    return None


def assert_busy_page(answer: Answer, bound: float) -> None:
    """The shop's 503 page: try again, Retry-After, quickly enough."""
    assert answer.status == 503, (answer.status, page_text(answer.text)[:300])
    assert answer.header("Retry-After") == str(RETRY_AFTER)
    assert BUSY_TEXT in page_text(answer.text)
    assert answer.seconds < bound, answer.seconds


def assert_no_server_errors(log: str) -> None:
    """No request ended in an error the shop did not handle: no 500 in the access log, no
    exception logged by Flask or gunicorn. (The health check logs why the database did not
    answer, with its traceback, on purpose.)"""
    failures = [
        line
        for line in log.splitlines()
        if (re.search(r'HTTP/1\.[01]" 5\d\d ', line) and '" 503 ' not in line)
        or "ERROR in app" in line
        or "Error handling request" in line
    ]
    assert not failures, "\n".join(failures[:20]) + "\n" + log[-3000:]


# ---------------------------------------------------------------- a worker killed mid-burst

VISITORS = 40
WORKERS = 4


@dataclass
class Visitor:
    """A browser with a bag and its own checkout page, about to place its order."""

    browser: Browser
    form: dict
    bag: dict[str, int]
    answer: Answer | None = None
    error: BaseException | None = None

    @property
    def token(self) -> str:
        return self.form["checkout_token"]


def _visitor(base: str, number: int) -> Visitor:
    browser = Browser()
    browser.get(f"{base}/")
    bag = {SLUGS[number % 4]: number % 3 + 1, SLUGS[(number + 1) % 4]: 1}
    for slug, quantity in bag.items():
        assert add(browser, base, slug, quantity).status == 303
    return Visitor(browser, checkout_form(browser, base, f"buyer{number}@example.com"), bag)


def _orders(database_url: str) -> dict[str, dict]:
    """Every order by checkout token: reference, total and lines, read from the database."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            return {
                order.checkout_token: {
                    "reference": order.reference,
                    "total": order.total_cents,
                    "lines": [
                        (line.slug, line.quantity, line.unit_price_cents) for line in order.lines
                    ],
                }
                for order in session.scalars(select(Order))
            }
    finally:
        engine.dispose()


def test_a_worker_killed_during_a_burst_of_orders_leaves_every_order_whole(tmp_path):
    with (
        fresh_database(tmp_path, "_faults_kill") as url,
        serve(url, tmp_path, WORKERS) as server,
    ):
        base = server.base_url
        with ThreadPoolExecutor(8) as pool:
            visitors = list(pool.map(lambda n: _visitor(base, n), range(VISITORS)))
        server.wait_for_workers(WORKERS)

        barrier = threading.Barrier(VISITORS)
        first_answer = threading.Event()

        def place(visitor: Visitor) -> None:
            barrier.wait(timeout=30)
            try:
                visitor.answer = visitor.browser.post(f"{base}/checkout", visitor.form)
            except (http.client.HTTPException, OSError) as error:  # cut off by the kill
                visitor.error = error
            finally:
                first_answer.set()

        def answered() -> int:
            return sum(v.answer is not None or v.error is not None for v in visitors)

        with ThreadPoolExecutor(VISITORS) as pool:
            for visitor in visitors:
                pool.submit(place, visitor)
            # Part-way: the first answers are in, the rest are being worked on or queued.
            assert first_answer.wait(timeout=60)
            # A worker in the middle of answering one of them.
            busy: list[int] = []
            while not busy and answered() < VISITORS:
                busy = server.busy_worker_pids()
            assert busy, "the burst was over before a busy worker was found"
            victim = random.choice(busy)
            os.kill(victim, signal.SIGKILL)
            answered_before_kill = answered()
        assert answered_before_kill < VISITORS, "the burst was over before the kill"

        # The master replaces the worker; the same server goes on answering.
        replaced = server.wait_for_workers(WORKERS)
        assert victim not in replaced

        cut_off = [v for v in visitors if v.error is not None]
        statuses = sorted({v.answer.status for v in visitors if v.answer is not None})
        assert set(statuses) <= {303}, statuses
        before = _orders(url)

        # Every order is whole: all its lines, and a total that is their sum.
        by_token = {visitor.token: visitor for visitor in visitors}
        for token, order in before.items():
            lines = order["lines"]
            assert {slug: quantity for slug, quantity, _ in lines} == by_token[token].bag, order
            assert order["total"] == sum(quantity * price for _, quantity, price in lines)
        # Every success answered has its order.
        for visitor in visitors:
            if visitor.answer is not None:
                reference = order_reference(visitor.answer)
                assert reference == before[visitor.token]["reference"]

        # Sent again with the same token (a reload, a retry): the order that exists, or a
        # first one for a request that was cut off before it placed anything; never two.
        for visitor in visitors:
            answer = visitor.browser.post(f"{base}/checkout", visitor.form)
            reference = order_reference(answer)
            assert reference is not None, (answer.status, page_text(answer.text)[:300])
            if visitor.token in before:
                assert reference == before[visitor.token]["reference"]
        after = _orders(url)
        assert len(after) == VISITORS
        assert {token: order for token, order in after.items() if token in before} == before
        for token, order in after.items():
            lines = order["lines"]
            assert {slug: quantity for slug, quantity, _ in lines} == by_token[token].bag
            assert order["total"] == sum(quantity * price for _, quantity, price in lines)

        log = server.log()
        assert f"Worker (pid:{victim}) was sent SIGKILL" in log
        assert_no_server_errors(log)
        print(
            f"killed worker {victim} after {answered_before_kill} answers: "
            f"{len(cut_off)} of {VISITORS} requests cut off"
        )


# ---------------------------------------------------------------- SQLite locked


SQLITE_ONLY = pytest.mark.skipif(
    bool(PG_URL), reason="SQLite's database lock; PostgreSQL locks rows, not the database"
)
BUSY_TIMEOUT = BUSY_TIMEOUT_MS / 1000


@contextmanager
def locked(database_url: str) -> Iterator[None]:
    """Another process (this one, beside gunicorn's) holds SQLite's write lock meanwhile."""
    holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@SQLITE_ONLY
def test_a_database_locked_past_the_busy_timeout_answers_503_then_recovers(tmp_path):
    with fresh_database(tmp_path, "_faults_lock") as url, serve(url, tmp_path, 1) as server:
        base = server.base_url
        browser = Browser()
        browser.get(f"{base}/")
        assert add(browser, base, "r2-bucket-hat").status == 303
        assert browser.get(f"{base}/bag").status == 200  # where the add sent the browser

        with locked(url):
            answer = add(browser, base, "r2-bucket-hat")
            # Reads go on meanwhile (WAL): the bag still shows what it held.
            assert counters(browser, base)[0] == 1

        assert_busy_page(answer, bound=BUSY_TIMEOUT + 4)
        assert answer.seconds >= BUSY_TIMEOUT - 0.5  # it waited for the lock first
        assert "no-store" in answer.header("Cache-Control")

        assert add(browser, base, "r2-bucket-hat").status == 303
        assert counters(browser, base)[0] == 2
        log = server.log()
        assert "database unavailable" in log
        assert_no_server_errors(log)


@SQLITE_ONLY
def test_a_first_visit_meeting_the_lock_waits_the_busy_timeout_once(tmp_path):
    with fresh_database(tmp_path, "_faults_lock_new") as url, serve(url, tmp_path, 1) as server:
        base = server.base_url
        browser = Browser()
        browser.get(f"{base}/")  # a cookie and a CSRF token, no session row yet
        with locked(url):
            answer = add(browser, base, "r2-bucket-hat")
        assert answer.status == 503 and answer.header("Retry-After") == str(RETRY_AFTER)
        assert answer.seconds < BUSY_TIMEOUT + 4, answer.seconds
        assert_no_server_errors(server.log())


# ---------------------------------------------------------------- PostgreSQL restarted


def _postgres_bin() -> Path | None:
    """The folder of PostgreSQL's initdb and pg_ctl, if they are installed."""
    folders = []
    found = shutil.which("initdb")
    if found:
        folders.append(Path(found).resolve().parent)
    folders += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    for folder in folders:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


class Cluster:
    """A throwaway PostgreSQL cluster in a temporary folder, on a free port."""

    def __init__(self, bindir: Path, root: Path, port: int):
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def run(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"{program} {args}: {result.stdout}{result.stderr}"

    def init(self) -> None:
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            )

    def start(self) -> None:
        log = str(self.root / "server.log")
        self.run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of the test's own, so the machine's server is left alone."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (the shop's postgres extra)")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("run as root, and there is no postgres user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            pytest.skip("run as root, and runuser is missing to run PostgreSQL as postgres")
    root = Path(tempfile.mkdtemp(prefix="shop-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = Cluster(bindir, root, free_port())
    started = False
    try:
        cluster.init()
        cluster.start()
        started = True
        yield cluster
    finally:
        if started:
            subprocess.run(
                [*(["runuser", "-u", "postgres", "--"] if owner else []), str(bindir / "pg_ctl")]
                + ["-D", str(cluster.data), "-m", "immediate", "-w", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


class Traffic:
    """New visitors loading pages in a loop on a thread of its own; every answer is kept."""

    PATHS = ("/", "/offers", "/offers/r2-bucket-hat")

    def __init__(self, base: str):
        self.base = base
        self.answers: list[tuple[float, int | str, float]] = []  # (when, status, seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            path = self.PATHS[len(self.answers) % len(self.PATHS)]
            began = time.monotonic()
            try:
                status: int | str = Browser(timeout=20).get(self.base + path).status
            except (http.client.HTTPException, OSError) as error:
                status = repr(error)
            self.answers.append((began, status, time.monotonic() - began))
            time.sleep(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)


def test_postgresql_restarted_under_traffic_answers_503_then_recovers(cluster, tmp_path):
    migrated_database(tmp_path, cluster.url)
    with serve(cluster.url, tmp_path, 2) as server:
        base = server.base_url
        workers = server.wait_for_workers(2)
        returning = Browser(timeout=20)
        returning.get(f"{base}/")
        assert add(returning, base, "r2-bucket-hat").status == 303

        with Traffic(base) as traffic:
            time.sleep(0.5)
            stopping = time.monotonic()
            cluster.stop("fast")
            # New visitors get the shop's 503 page (see the next test for visitors who hold
            # a session cookie) once their worker next asks the database whether the
            # catalogue changed: until then its shelf is still right to serve.
            time.sleep(Defaults.CATALOG_CHECK_SECONDS)
            for path in Traffic.PATHS:
                assert_busy_page(Browser().get(f"{base}{path}"), bound=5)
            assert Browser().get(f"{base}/healthz").status == 503
            time.sleep(0.5)
            cluster.start()
            up = time.monotonic()

            # The same workers, without a restart, answer again from the first request on,
            # to returning visitors too.
            for _ in range(6):
                answer = returning.get(f"{base}/")
                assert answer.status == 200, page_text(answer.text)[:300]
            assert add(returning, base, "r2-bucket-hat").status == 303
            assert counters(returning, base)[0] == 2
            assert Browser().get(f"{base}/healthz").status == 200
            time.sleep(0.5)

        assert server.worker_pids() == workers
        answers = traffic.answers
        assert {status for _, status, _ in answers} <= {200, 503}, answers
        assert max(seconds for _, _, seconds in answers) < 5, answers
        assert any(status == 503 for _, status, _ in answers), answers
        # Answers finished before the stop began were all served.
        assert all(status == 200 for when, status, took in answers if when + took < stopping), (
            answers
        )
        assert all(status == 200 for when, status, _ in answers if when > up), answers
        assert any(when > up for when, _, _ in answers), answers
        log = server.log()
        assert "database unavailable" in log
        assert_no_server_errors(log)


def test_a_returning_visitor_gets_the_503_page_while_postgresql_is_down(cluster, tmp_path):
    migrated_database(tmp_path, cluster.url)
    with serve(cluster.url, tmp_path, 1) as server:
        base = server.base_url
        browser = Browser(timeout=20)
        browser.get(f"{base}/")
        assert add(browser, base, "r2-bucket-hat").status == 303
        cluster.stop("fast")
        assert_busy_page(browser.get(f"{base}/"), bound=5)
        assert_busy_page(add(browser, base, "r2-bucket-hat"), bound=5)
        assert_no_server_errors(server.log())


# ---------------------------------------------------------------- Stripe unreachable or slow

API_KEY = "sk_test_fake_" + "faults0key0for0tests"
STRIPE_TIMEOUT = 1


@dataclass
class StripeShop:
    base: str
    database_url: str
    stripe: FakeStripe


@pytest.fixture(scope="module")
def stripe_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StripeShop]:
    """A shop with Stripe configured against a fake Stripe, waiting 1 s per attempt."""
    instance = tmp_path_factory.mktemp("faults-stripe")
    with FakeStripe(api_key=API_KEY) as stripe:
        env = {
            "SHOP_STRIPE_SECRET_KEY": API_KEY,
            "SHOP_STRIPE_WEBHOOK_SECRET": "whsec_test_" + "faults0signing0secret",
            "SHOP_STRIPE_API_BASE": stripe.base_url,
            "SHOP_STRIPE_TIMEOUT": str(STRIPE_TIMEOUT),
        }
        with (
            fresh_database(instance, "_faults_stripe") as url,
            serve(url, instance, 2, env=env) as server,
        ):
            yield StripeShop(server.base_url, url, stripe)


def _order(database_url: str, reference: str) -> tuple[str, str | None]:
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            order = session.scalar(select(Order).where(Order.reference == reference))
            return order.status, order.stripe_session_id
    finally:
        engine.dispose()


@pytest.mark.parametrize("fault", ["unreachable", "slow"])
def test_stripe_unreachable_or_slow_keeps_the_order_waiting_then_pay_now_works(stripe_shop, fault):
    shop, stripe = stripe_shop, stripe_shop.stripe
    browser = Browser()
    browser.get(f"{shop.base}/")
    assert add(browser, shop.base, "r2-bucket-hat").status == 303
    form = checkout_form(browser, shop.base, f"{fault}@example.com")
    tries = MAX_NETWORK_RETRIES + 1
    asked = len(stripe.created())
    if fault == "unreachable":
        stripe.go_offline()
    else:
        stripe.slow_next(tries, STRIPE_TIMEOUT + 2)
    try:
        answer = browser.post(f"{shop.base}/checkout", form)
    finally:
        stripe.come_back()

    # Each try waits at most the timeout, with stripe's short backoff between them.
    assert answer.seconds < STRIPE_TIMEOUT * tries + 5, answer.seconds
    if fault == "slow":
        assert len(stripe.created()) - asked == tries
    reference = order_reference(answer)
    assert reference is not None, (answer.status, answer.location, page_text(answer.text)[:300])
    assert _order(shop.database_url, reference) == ("pending_payment", None)
    page = browser.get(f"{shop.base}{answer.location}")
    text = page_text(page.text)
    assert PaymentUnavailable.message in text
    assert "Waiting for payment" in text and "Pay now" in text

    # Stripe answers again: Pay now goes to its Checkout.
    key = parse_qs(urlsplit(answer.location).query)["key"][0]
    paid = browser.post(f"{shop.base}/orders/{reference}/pay", {"key": key})
    assert paid.status == 303 and paid.location.startswith(f"{stripe.base_url}/c/pay/")
    status, session_id = _order(shop.database_url, reference)
    assert status == "pending_payment" and paid.location.endswith(f"/c/pay/{session_id}")
