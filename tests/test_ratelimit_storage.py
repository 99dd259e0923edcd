"""The rate-limit storage over a SQLite file (shop/ratelimit_storage.py): counts and windows,
the file's mode, several threads and processes counting at once, and the shop under gunicorn
with three workers sharing one sign-in limit through it (the default storage)."""

from __future__ import annotations

import http.client
import multiprocessing
import os
import sqlite3
import stat
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode, urlsplit

import pytest
from limits import parse
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)

from shop import ratelimit_storage
from shop.ratelimit_storage import SQLiteFileStorage, file_uri
from tests.support.database import fresh_database
from tests.support.live import Browser, Server, serve

# ---------------------------------------------------------------- helpers


class Clock:
    """A wall clock the test moves (the storage reads ``time.time()``)."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "limits" / "ratelimits.sqlite3"


@pytest.fixture
def storage(path: Path) -> SQLiteFileStorage:
    path.parent.mkdir()
    return storage_from_string(file_uri(path))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(ratelimit_storage, "time", SimpleNamespace(time=clock.time))
    return clock


def stored_keys(path: Path) -> list[str]:
    """The keys in the file, read with a connection of the test's own."""
    connection = sqlite3.connect(path)
    try:
        return sorted(key for (key,) in connection.execute("SELECT key FROM counters"))
    finally:
        connection.close()


# ---------------------------------------------------------------- the storage


def test_the_uri_scheme_gives_the_storage_of_that_file(path: Path, storage: SQLiteFileStorage):
    assert isinstance(storage, SQLiteFileStorage)
    assert storage.path == str(path)
    assert file_uri(path) == f"sqlite-file://{path}"
    # Characters that mean something in a URI survive the round trip.
    odd = path.parent / "with space #and ?query%.sqlite3"
    assert storage_from_string(file_uri(odd)).path == str(odd)
    assert storage.check()


@pytest.mark.parametrize(
    "uri",
    ["sqlite-file://relative/ratelimits.sqlite3", "sqlite-file://", "sqlite-file:///tmp/"],
)
def test_a_uri_without_an_absolute_file_path_is_refused(uri: str):
    with pytest.raises(ConfigurationError, match="absolute file path"):
        storage_from_string(uri)


def test_a_missing_folder_is_refused(tmp_path: Path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        storage_from_string(file_uri(tmp_path / "nowhere" / "ratelimits.sqlite3"))


def test_counts_expiry_clear_and_reset(storage: SQLiteFileStorage, clock: Clock):
    assert storage.get("a") == 0
    assert storage.get_expiry("a") == clock.now  # no window: it ends now
    assert storage.incr("a", 60) == 1
    clock.now += 10
    assert storage.incr("a", 60) == 2
    assert storage.incr("a", 60, amount=3) == 5
    assert storage.incr("b", 30) == 1
    assert storage.get("a") == 5 and storage.get("b") == 1
    # The window runs from the first hit: later hits do not move its end.
    assert storage.get_expiry("a") == 1_000_000.0 + 60

    storage.clear("a")
    assert storage.get("a") == 0 and storage.get("b") == 1
    assert storage.incr("a", 60) == 1
    assert storage.reset() == 2
    assert storage.get("a") == storage.get("b") == 0


def test_a_window_that_ended_starts_again_from_nothing(storage: SQLiteFileStorage, clock: Clock):
    assert storage.incr("a", 60) == 1
    assert storage.incr("a", 60) == 2
    clock.now += 59.9
    assert storage.get("a") == 2
    clock.now += 0.1  # the window's end: it is over
    assert storage.get("a") == 0
    assert storage.get_expiry("a") == clock.now
    assert storage.incr("a", 60) == 1
    assert storage.get_expiry("a") == clock.now + 60


def test_a_one_second_window_ends_on_the_real_clock(storage: SQLiteFileStorage):
    assert storage.incr("a", 1) == 1
    assert storage.incr("a", 1) == 2
    time.sleep(1.05)
    assert storage.get("a") == 0
    assert storage.incr("a", 1) == 1


def test_expired_counters_are_deleted_by_a_later_change(
    storage: SQLiteFileStorage, path: Path, clock: Clock
):
    storage.incr("old", 10)
    storage.incr("older", 5)
    storage.incr("live", 3600)
    clock.now += 30
    storage.incr("new", 10)
    # Within SWEEP_SECONDS of the last sweep nothing is deleted (only ignored)...
    assert stored_keys(path) == ["live", "new", "old", "older"]
    assert storage.get("old") == 0
    # ...after it, the next change deletes every expired counter.
    clock.now += ratelimit_storage.SWEEP_SECONDS
    storage.incr("newer", 10)
    assert stored_keys(path) == ["live", "newer"]


def test_the_fixed_window_strategy_counts_to_the_limit(storage: SQLiteFileStorage, clock: Clock):
    limiter = FixedWindowRateLimiter(storage)
    five = parse("5 per minute")
    assert [limiter.hit(five, "email", "ada") for _ in range(7)] == [True] * 5 + [False] * 2
    assert not limiter.test(five, "email", "ada")
    assert limiter.hit(five, "email", "bob")  # another key counts apart
    stats = limiter.get_window_stats(five, "email", "ada")
    assert stats.remaining == 0 and stats.reset_time == clock.now + 60
    clock.now += 60
    assert limiter.hit(five, "email", "ada")
    limiter.clear(five, "email", "ada")
    assert limiter.get_window_stats(five, "email", "ada").remaining == 5


def test_the_sliding_window_counter_strategy_weighs_the_previous_window(
    storage: SQLiteFileStorage, clock: Clock
):
    limiter = SlidingWindowCounterRateLimiter(storage)
    four = parse("4 per 10 seconds")
    assert [limiter.hit(four, "k") for _ in range(5)] == [True] * 4 + [False]
    # Halfway through the next window the previous one weighs half: 2 of its 4 hits.
    clock.now += 15
    assert limiter.test(four, "k")
    assert [limiter.hit(four, "k") for _ in range(3)] == [True, True, False]
    assert limiter.get_window_stats(four, "k").remaining == 0
    # Two windows later nothing weighs.
    clock.now += 20
    assert [limiter.hit(four, "k") for _ in range(5)] == [True] * 4 + [False]
    limiter.clear(four, "k")
    assert limiter.get_window_stats(four, "k").remaining == 4


def test_the_moving_window_strategy_is_not_supported(storage: SQLiteFileStorage):
    with pytest.raises(NotImplementedError):
        MovingWindowRateLimiter(storage)


# ---------------------------------------------------------------- the file


def test_the_file_and_its_wal_and_shm_are_private(storage: SQLiteFileStorage, path: Path):
    previous = os.umask(0)  # even with no umask at all
    try:
        storage.incr("a", 60)
    finally:
        os.umask(previous)
    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["ratelimits.sqlite3", "ratelimits.sqlite3-shm", "ratelimits.sqlite3-wal"]
    for name in names:
        assert stat.S_IMODE((path.parent / name).stat().st_mode) == 0o600, name
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        connection.close()


def test_the_file_is_opened_on_first_use_only(storage: SQLiteFileStorage, path: Path):
    assert not path.exists()  # the app is built in gunicorn's master: no file, no connection
    assert storage.get("a") == 0
    assert path.exists()


# ---------------------------------------------------------------- many at once


def test_threads_sharing_one_storage_count_exactly(storage: SQLiteFileStorage):
    start = threading.Barrier(8)
    counts: list[int] = []

    def hit() -> None:
        start.wait()
        counts.extend(storage.incr("k", 60) for _ in range(50))

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert storage.get("k") == 400
    assert sorted(counts) == list(range(1, 401))  # every hit saw a count of its own


def _count_in_a_new_process(uri: str, start, hits: int, results) -> None:
    storage = storage_from_string(uri)
    start.wait()
    results.put([storage.incr("k", 60) for _ in range(hits)])


def _count_in_a_forked_process(storage: SQLiteFileStorage, start, hits: int, results) -> None:
    start.wait()
    results.put([storage.incr("k", 60) for _ in range(hits)])


def _run(context, target, args_of, processes: int) -> list[int]:
    results = context.Queue()
    started = [context.Process(target=target, args=args_of(results)) for _ in range(processes)]
    for process in started:
        process.start()
    counts = [count for _ in started for count in results.get(timeout=60)]
    for process in started:
        process.join(timeout=30)
        assert process.exitcode == 0
    return counts


def test_processes_opening_a_new_file_at_once_count_exactly(path: Path):
    """Processes that create the file, its tables and its WAL at the same moment, then
    count on one key: no hit is lost or counted twice."""
    path.parent.mkdir()
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    counts = _run(
        context,
        _count_in_a_new_process,
        lambda results: (file_uri(path), start, 200, results),
        processes=2,
    )
    assert sorted(counts) == list(range(1, 401))
    assert storage_from_string(file_uri(path)).get("k") == 400


def test_a_storage_used_before_a_fork_counts_exactly_in_the_children(
    storage: SQLiteFileStorage,
):
    """As gunicorn forks workers from a master that built the app: the children open
    connections of their own (the parent's is closed before the fork, then reopened)."""
    assert storage.incr("k", 60) == 1  # the parent's connection is open
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    counts = _run(
        context,
        _count_in_a_forked_process,
        lambda results: (storage, start, 200, results),
        processes=2,
    )
    assert sorted(counts) == list(range(2, 402))
    assert storage.incr("k", 60) == 402  # and the parent goes on with a new connection


def test_a_connection_of_another_process_is_left_alone(storage: SQLiteFileStorage):
    """A fork that bypassed os.fork leaves the child the parent's connection: the child
    opens one of its own and never uses nor closes the other."""
    storage.incr("k", 60)
    inherited = storage._connection
    storage._pid = -1  # as if it had been opened by another process
    assert storage.incr("k", 60) == 2
    assert storage._connection is not inherited
    assert inherited in ratelimit_storage._inherited
    ratelimit_storage._inherited.remove(inherited)
    inherited.close()


# ---------------------------------------------------------------- the shop under gunicorn


def post_at_once(server: Server, browser: Browser, path: str, form: dict) -> tuple[list, list]:
    """POST the form on three connections held by three different workers at once.

    The connections are opened first and the requests sent only once three workers hold
    one each (a sync worker that accepted a connection takes no other until it answered).
    Returns the sorted statuses and the pids of the workers that answered."""
    body = urlencode({**form, "csrf_token": browser.csrf}).encode()
    headers = {
        "Cookie": f"{Browser.COOKIE}={browser.cookie}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    connections = [
        http.client.HTTPConnection(urlsplit(server.base_url).netloc, timeout=30) for _ in range(3)
    ]
    try:
        for connection in connections:
            connection.connect()
        deadline = time.monotonic() + 10
        while len(workers := server.busy_worker_pids()) < 3:
            assert time.monotonic() < deadline, f"workers holding a connection: {workers}"
            time.sleep(0.02)
        for connection in connections:
            connection.request("POST", path, body=body, headers=headers)
        statuses = []
        for connection in connections:
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        for connection in connections:
            connection.close()
    return sorted(statuses), workers


def test_three_workers_share_one_sign_in_limit_through_the_default_storage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Five wrong passwords a minute for one email address, whichever of three workers
    answers: exactly five get the form again (400), every later one 429. With a storage
    per worker (memory://) all fifteen would get 400."""
    monkeypatch.delenv("SHOP_RATELIMIT_STORAGE_URI", raising=False)  # the default is tested
    instance = tmp_path / "instance"
    instance.mkdir()
    env = {
        "SHOP_RATELIMIT_SIGN_IN_EMAIL": "5 per minute",
        # Per client address (every request comes from 127.0.0.1): out of the way.
        "SHOP_RATELIMIT_SIGN_IN": "1000 per minute",
    }
    address = f"ada-{uuid.uuid4().hex[:10]}@example.com"
    with (
        fresh_database(instance, "_ratelimit_workers") as url,
        serve(url, instance, workers=3, env=env) as server,
    ):
        workers = server.wait_for_workers(3)
        browser = Browser()
        assert browser.get(f"{server.base_url}/account/sign-in").status == 200
        assert browser.cookie and browser.csrf

        rounds, answering = [], set()
        for _ in range(5):
            statuses, pids = post_at_once(
                server,
                browser,
                "/account/sign-in",
                {"email": address, "password": "a wrong password, long enough"},
            )
            rounds.append(statuses)
            answering.update(pids)
        # The workers' files (SQLite deletes -wal and -shm when the last connection closes).
        modes = {
            name: stat.S_IMODE((instance / name).stat().st_mode)
            for name in ("ratelimits.sqlite3", "ratelimits.sqlite3-wal", "ratelimits.sqlite3-shm")
        }
        log = server.log()

    assert answering == set(workers)  # every worker answered in every round
    assert rounds == [[400, 400, 400], [400, 400, 429]] + [[429, 429, 429]] * 3
    assert "Traceback" not in log, log[-3000:]
    assert set(modes.values()) == {0o600}, modes
