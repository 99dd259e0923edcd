"""Engine set-up shared by every domain: SQLite pragmas, write transactions, forked workers.

SQLite serves several gunicorn workers well if it is told how: WAL lets readers and one
writer work at once, ``busy_timeout`` makes a writer wait for the lock instead of failing,
and a transaction that will write must take the write lock when it starts
(``BEGIN IMMEDIATE``). A deferred transaction that reads and then writes fails at once with
"database is locked" when another worker wrote in between; the busy timeout cannot help it.
Python's sqlite3 module issues its own BEGIN statements, so its transaction handling is
turned off and SQLAlchemy's ``begin`` event issues ours (the recipe of SQLAlchemy's
"Serializable isolation / Savepoints / Transactional DDL" section for pysqlite).

Writers wait in line, not in SQLite's busy handler. A writer that finds the lock taken
sleeps in SQLite's steps (1, 2, 5, 10 … up to 100 ms) and retries: it may wake 100 ms after
the lock came free, and under a burst of adds that schedule was the whole tail of their
latency. So a write transaction first takes an ``flock`` on a file beside the database
(``<database>-writers``), which every process of the machine opening that database shares:
the kernel wakes the next waiter the moment the holder commits or rolls back. SQLite's own
lock stays the rule (the busy timeout still covers writers that do not queue, such as the
sqlite3 shell); no library offers this for SQLite, and it takes a dozen lines.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from shop.extensions import db

# Execution option that makes a transaction begin with BEGIN IMMEDIATE on SQLite.
log = logging.getLogger(__name__)

IMMEDIATE = "shop_immediate"
BUSY_TIMEOUT_MS = 5000


def is_sqlite(engine: Engine) -> bool:
    """Whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def configure_engine(engine: Engine) -> None:
    """Apply the SQLite connection settings and make forked workers open their own connections."""
    if is_sqlite(engine):
        database = engine.url.database
        queue = WriterQueue(database) if database and database != ":memory:" else None

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection):
            immediate = conn.get_execution_options().get(IMMEDIATE, False)
            if not immediate:
                conn.exec_driver_sql("BEGIN")
                return
            queued = queue is not None and queue.enter(conn.info)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if queued:
                    queue.leave(conn.info)
                raise

        if queue is not None:

            @event.listens_for(engine, "commit")
            @event.listens_for(engine, "rollback")
            def _sqlite_end(conn: Connection):
                queue.leave(conn.info)

            @event.listens_for(engine.pool, "reset")
            def _sqlite_returned(_dbapi_connection, record, _reset_state):
                queue.leave(record.info)

            @event.listens_for(engine.pool, "invalidate")
            def _sqlite_invalidated(_dbapi_connection, record, _exception):
                queue.leave(record.info)

            @event.listens_for(engine.pool, "close")
            def _sqlite_closed(_dbapi_connection, record):
                queue.leave(record.info)
                queue.close(record.info)

    _engines.add(engine)


class WriterQueue:
    """The line of writers of one SQLite file (see the module's docstring).

    Each pooled connection opens the lock file once (``flock`` locks belong to an open file,
    so two connections of one process queue like two processes). A thread that already
    holds the line through one connection does not queue again through another (saving the
    session while a view's write is still open): it would wait for itself; SQLite's busy
    timeout decides that case, as it did before the queue.
    """

    KEY, FD = "shop_writer_queued", "shop_writer_fd"

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writers"
        self.holders: set[int] = set()  # the threads whose connection is in line now

    def enter(self, info: dict) -> bool:
        """Wait for this connection's turn to write; False when it did not queue."""
        thread = threading.get_ident()
        if thread in self.holders or self.KEY in info:
            return False
        fd = info.get(self.FD)
        if fd is None:
            fd = info[self.FD] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        info[self.KEY] = thread
        self.holders.add(thread)
        return True

    def leave(self, info: dict) -> None:
        """Let the next writer in (after this connection's commit or rollback)."""
        thread = info.pop(self.KEY, None)
        if thread is not None:
            fcntl.flock(info[self.FD], fcntl.LOCK_UN)
            self.holders.discard(thread)

    def close(self, info: dict) -> None:
        fd = info.pop(self.FD, None)
        if fd is not None:
            os.close(fd)


# A gunicorn worker forked from a master that already used an engine must not share its
# sockets or file handles: each child drops the inherited pools without closing the
# parent's connections (SQLAlchemy's "Using Connection Pools with Multiprocessing" advice).
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _dispose_after_fork() -> None:
    for engine in list(_engines):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_dispose_after_fork)


def begin_write() -> None:
    """Start the request's ORM transaction as a write transaction.

    Views and services call this before the statements of a change, so that on SQLite the
    write lock is taken up front. A read-only transaction already open is ended first
    (it holds no changes). On PostgreSQL the option is ignored.
    """
    session = db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            raise RuntimeError("begin_write() called with unsaved changes in the session")
        session.commit()
    session.connection(execution_options={IMMEDIATE: True})


@contextmanager
def write_transaction() -> Iterator[None]:
    """The request's ORM session in a write transaction: committed at the end of the block,
    rolled back if it raises.

    The commit keeps the objects loaded: what the request goes on to render is what it just
    read and wrote, and expiring it would reload each object with a query of its own.
    (ORM UPDATE statements already bring the loaded objects up to date.)
    """
    begin_write()
    session = db.session()
    try:
        yield
        keep, session.expire_on_commit = session.expire_on_commit, False
        try:
            session.commit()
        finally:
            session.expire_on_commit = keep
    except BaseException:
        session.rollback()
        raise


@contextmanager
def write_connection() -> Iterator[Connection]:
    """A Core connection in its own write transaction, committed on success.

    For work that must not share the request's ORM session, such as saving the
    server-side session after the view has run.
    """
    with db.engine.connect() as conn:
        conn = conn.execution_options(**{IMMEDIATE: True})
        with conn.begin():
            yield conn


def database_ok() -> bool:
    """Whether the database answers a trivial query (for the health check)."""
    # A pooled connection of its own, outside the ORM session: nothing else of the request
    # touches the database.
    try:
        with db.engine.connect() as connection:
            connection.execute(_PING)
        return True
    except Exception:  # any failure to reach the database means "not healthy"
        log.exception("health check: the database did not answer")
        return False


_PING = text("SELECT 1")


def upsert_insert(model):
    """An INSERT that knows ON CONFLICT on the request's database (SQLite or PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


_built: dict[tuple[Callable[[], Any], str], Any] = {}


def built_once(build: Callable[[], Any]) -> Any:
    """The statement ``build()`` makes (with ``bindparam`` placeholders), made once per
    database dialect. For statements on a hot path: building an upsert of this shop's size,
    and hashing it for SQLAlchemy's compiled cache, costs more than running it."""
    key = (build, db.session.get_bind().dialect.name)
    statement = _built.get(key)
    if statement is None:
        statement = _built[key] = build()
    return statement


# SQLite reports a missing table as an OperationalError too; only these mean "busy".
_SQLITE_BUSY = ("locked", "busy", "unable to open", "disk i/o")


def database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` means the database is locked, unreachable or restarting, as
    opposed to a bug: the request's transaction was rolled back and a retry may work."""
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    if isinstance(error.orig, sqlite3.Error):
        return any(word in str(error.orig).lower() for word in _SQLITE_BUSY)
    return True  # the PostgreSQL driver's OperationalError: connection trouble
