"""Rate-limit counters in a SQLite file that every worker of one machine shares.

Flask-Limiter keeps its counters in a ``limits`` storage. With ``memory://`` each gunicorn
worker counts on its own, so a limit of 5 sign-ins a minute lets 5 through per worker (15 with
three workers). ``limits`` ships storages for memory, Redis (and Valkey), Memcached and
MongoDB only, and no well-kept library adds one over a file or a SQL database; running Redis
just so that the workers of one machine agree on a few counters is a heavy price. Hence this
small storage, written for the shop: one SQLite file (by default ``ratelimits.sqlite3`` in the
instance folder) that the workers share. Several machines still need a shared server such as
Redis (``redis://...``); a file counts for one machine only.

It uses the standard library's ``sqlite3``, not the shop's SQLAlchemy engine: it works the same
whether the shop's own database is SQLite or PostgreSQL, and a rate-limit check never waits on
the shop database's write lock.

The URI scheme is ``sqlite-file``: ``sqlite-file:///absolute/path/ratelimits.sqlite3``
(percent-encode unusual characters; ``file_uri`` builds it). Supported strategies:
``fixed-window`` (the shop's, and Flask-Limiter's default) and ``sliding-window-counter``.
``moving-window`` is not supported (Flask-Limiter refuses to start with it).

How it holds up:

* Every change is one transaction that takes SQLite's write lock up front (``BEGIN
  IMMEDIATE``), so counts from several processes and threads add up exactly; the file is in
  WAL mode and a connection waits for the lock up to ``timeout`` seconds.
* One connection per process, opened on first use. A connection never crosses a fork
  (gunicorn builds the app in its master and forks the workers): it is closed before
  ``os.fork`` and each process opens its own; a process that finds a connection of another
  pid (a fork that bypassed ``os.fork``) leaves it untouched and opens a new one. One lock per
  process serialises the threads (gunicorn's gthread workers) on the connection.
* The file is created with mode 0600 before SQLite opens it; SQLite gives its ``-wal`` and
  ``-shm`` files the same mode. Its folder must exist.
* Expired counters are deleted by the next change after ``SWEEP_SECONDS`` in each process,
  so the file needs no job of its own.

Times come from ``time.time()``: the counters are shared between processes, so they need the
wall clock all of them read.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from math import floor
from pathlib import Path
from time import monotonic, sleep

from limits.errors import ConfigurationError
from limits.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

SCHEME = "sqlite-file"
# How often each process deletes the expired counters (during a change).
SWEEP_SECONDS = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expires_at ON counters (expires_at);
"""

# One statement: a new key, a live one incremented, or an expired one started afresh. The
# SET expressions all read the row as it was before the update.
_INCR = """
INSERT INTO counters (key, count, expires_at) VALUES (:key, :amount, :now + :expiry)
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN expires_at <= :now THEN excluded.count ELSE count + excluded.count END,
    expires_at = CASE WHEN expires_at <= :now THEN excluded.expires_at ELSE expires_at END
RETURNING count
"""

# Connections that came from another process through a fork that bypassed os.fork: kept,
# never used nor closed (closing SQLite's files in this process could drop the POSIX locks
# of this process's own connection to the same file).
_inherited: list[sqlite3.Connection] = []
# Every storage of this process, so that their connections are closed before a fork.
_storages: weakref.WeakSet[SQLiteFileStorage] = weakref.WeakSet()


def file_uri(path: str | os.PathLike[str]) -> str:
    """The ``sqlite-file://`` URI of a SQLite file (made absolute, percent-encoded)."""
    return f"{SCHEME}://{urllib.parse.quote(str(Path(path).resolve()))}"


class SQLiteFileStorage(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """A ``limits`` storage over one SQLite file, shared by the processes of one machine.

    Supports the fixed-window and the sliding-window-counter strategies (not moving-window).
    """

    STORAGE_SCHEME = [SCHEME]

    def __init__(
        self,
        uri: str,
        wrap_exceptions: bool = False,
        timeout: float = 5.0,
        **options: float | str | bool,
    ) -> None:
        """Check the URI and the folder; the file is opened on first use.

        ``timeout``: seconds to wait for another process's write (SQLite's busy timeout).
        """
        parsed = urllib.parse.urlsplit(uri)
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc or not os.path.isabs(path) or path.endswith("/"):
            raise ConfigurationError(
                f"{SCHEME} needs an absolute file path, as in "
                f"{SCHEME}:///srv/shop/instance/ratelimits.sqlite3 (got {uri!r})"
            )
        if not os.path.isdir(os.path.dirname(path)):
            raise ConfigurationError(f"the folder of the rate-limit file {path} does not exist")
        self.path = path
        self.timeout = float(timeout)
        self._connection: sqlite3.Connection | None = None
        self._pid = 0  # the process that opened self._connection
        self._locks: dict[int, threading.Lock] = {}
        self._next_sweep = 0.0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        _storages.add(self)

    # ------------------------------------------------------------ connection

    def _lock(self) -> threading.Lock:
        # A lock per process: one inherited through a fork may have been held by a thread
        # that does not exist in the child. setdefault is atomic, so threads agree on one.
        pid = os.getpid()
        lock = self._locks.get(pid)
        if lock is None:
            lock = self._locks.setdefault(pid, threading.Lock())
        return lock

    @contextmanager
    def _connected(self) -> Iterator[sqlite3.Connection]:
        with self._lock():
            if self._connection is None or self._pid != os.getpid():
                if self._connection is not None:
                    _inherited.append(self._connection)
                self._connection = None
                self._connection = self._open()
                self._pid = os.getpid()
            yield self._connection

    def _open(self) -> sqlite3.Connection:
        # Created here with mode 0600 (an existing file keeps its mode); SQLite would create
        # it with 0644 less the umask, and gives the -wal and -shm files the main file's mode.
        os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self._use_wal(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            connection.close()
            raise
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        # Switching a new file to WAL needs a lock SQLite does not wait for through the busy
        # timeout: processes opening the file at the same moment get "database is locked" at
        # once. So the switch is retried here until the timeout, and skipped once it is done.
        deadline = monotonic() + self.timeout
        while True:
            try:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() == "wal":
                    return
                connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or monotonic() >= deadline:
                    raise
                sleep(0.01)

    def _close_before_fork(self) -> None:
        with self._lock():
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
                self._connection = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's write lock from its first statement."""
        with self._connected() as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _incr(self, connection: sqlite3.Connection, key: str, expiry: float, amount: int) -> int:
        now = time.time()
        if now >= self._next_sweep:
            connection.execute("DELETE FROM counters WHERE expires_at <= ?", (now,))
            self._next_sweep = now + SWEEP_SECONDS
        row = connection.execute(
            _INCR, {"key": key, "amount": amount, "now": now, "expiry": expiry}
        ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------ Storage

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        """The errors of this storage (Flask-Limiter swallows or wraps these)."""
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Add ``amount`` to the key's counter, starting a new window of ``expiry`` seconds
        when it has none or its window ended; returns the new count."""
        with self._write() as connection:
            return self._incr(connection, key, expiry, amount)

    def get(self, key: str) -> int:
        """The key's count in its current window (0 when none)."""
        with self._connected() as connection:
            row = connection.execute(
                "SELECT count FROM counters WHERE key = ? AND expires_at > ?", (key, time.time())
            ).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        """When the key's window ends (a Unix time); now when it has none."""
        now = time.time()
        with self._connected() as connection:
            row = connection.execute(
                "SELECT expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, now)
            ).fetchone()
        return float(row[0]) if row else now

    def check(self) -> bool:
        """Whether the file can be opened and read."""
        try:
            with self._connected() as connection:
                connection.execute("SELECT count(*) FROM counters").fetchone()
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        """Delete every counter; returns how many there were."""
        with self._write() as connection:
            return connection.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        """Delete the key's counter."""
        with self._write() as connection:
            connection.execute("DELETE FROM counters WHERE key = ?", (key,))

    # ------------------------------------------------------------ sliding window counter

    def _sliding_window(
        self, connection: sqlite3.Connection, key: str, expiry: int, now: float
    ) -> tuple[int, float, int, float]:
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        counts = dict(
            connection.execute(
                "SELECT key, count FROM counters WHERE key IN (?, ?) AND expires_at > ?",
                (previous_key, current_key, now),
            ).fetchall()
        )
        previous, current = counts.get(previous_key, 0), counts.get(current_key, 0)
        previous_ttl = (1 - (((now - expiry) / expiry) % 1)) * expiry if previous else 0.0
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return previous, previous_ttl, current, current_ttl

    def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        """Count ``amount`` hits in the current window if the weighted count of this and the
        previous window stays within ``limit``; the check and the count are one transaction."""
        if amount > limit:
            return False
        now = time.time()
        with self._write() as connection:
            previous, previous_ttl, current, _ = self._sliding_window(connection, key, expiry, now)
            if floor(previous * previous_ttl / expiry + current) + amount > limit:
                return False
            # A window's counter lives through the next window, which weighs it.
            _, current_key = self.sliding_window_keys(key, expiry, now)
            self._incr(connection, current_key, 2 * expiry, amount)
            return True

    def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        """(previous count, seconds it still weighs, current count, seconds it lives)."""
        with self._connected() as connection:
            return self._sliding_window(connection, key, expiry, time.time())

    def clear_sliding_window(self, key: str, expiry: int) -> None:
        """Delete the counters of the key's previous and current windows."""
        keys = self.sliding_window_keys(key, expiry, time.time())
        with self._write() as connection:
            connection.execute("DELETE FROM counters WHERE key IN (?, ?)", keys)


def _close_all_before_fork() -> None:
    for storage in list(_storages):
        storage._close_before_fork()


os.register_at_fork(before=_close_all_before_fork)
