"""Engine set-up: SQLite pragmas, write transactions, connections after fork."""

from __future__ import annotations

import fcntl
import importlib
import os
import sqlite3
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select, text

from shop.catalog.models import Offer
from shop.db import begin_write, write_connection, write_transaction
from shop.extensions import db
from tests.support.database import PG_URL

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite connection settings")


@sqlite_only
def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(app):
    with app.app_context():
        conn = db.session.connection()
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        db.session.rollback()


def _other_writer(app) -> sqlite3.Connection:
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    return sqlite3.connect(path, timeout=0, isolation_level=None)


@sqlite_only
def test_begin_write_takes_the_write_lock_up_front(app):
    other = _other_writer(app)
    with app.app_context():
        db.session.scalar(select(Offer.id).limit(1))  # a read transaction first
        other.execute("BEGIN IMMEDIATE")  # a read transaction does not hold the lock
        other.execute("ROLLBACK")
        begin_write()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        db.session.rollback()
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


@sqlite_only
def test_write_connection_takes_the_write_lock(app):
    other = _other_writer(app)
    with app.app_context(), write_connection() as conn:
        conn.execute(text("SELECT 1"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
    other.close()


def test_begin_write_refuses_to_drop_unsaved_changes(app):
    with app.app_context():
        offer = db.session.scalar(select(Offer).limit(1))
        offer.title = "changed"
        with pytest.raises(RuntimeError):
            begin_write()
        db.session.rollback()


def test_foreign_keys_are_enforced(app):
    from shop.catalog.models import OfferTag

    with app.app_context():
        begin_write()
        db.session.add(OfferTag(offer_id=999_999, name="x", key="x", position=0))
        with pytest.raises(Exception, match="(?i)foreign key"):
            db.session.flush()
        db.session.rollback()


def test_forked_child_opens_its_own_connections(app):
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        parent_pool = engine.pool
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: its engine must hand out a new pool
            os.close(read)
            os.write(write, b"new" if engine.pool is not parent_pool else b"same")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 10)
        os.waitpid(pid, 0)
        os.close(read)
    assert answer == b"new"


@contextmanager
def _writers_file(app):
    """A descriptor of the writers' lock file of the app's database, opened on its own
    (an flock on it conflicts with every other open of the file, this process's too)."""
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///") + "-writers"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        yield fd
    finally:
        os.close(fd)


def _line_is_free(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


@sqlite_only
def test_writers_wait_in_line_while_a_write_is_open(app):
    """A write transaction holds the writers' line from BEGIN IMMEDIATE to its end, however
    it ends; reads never take it."""
    with _writers_file(app) as fd, app.app_context():
        db.session.scalar(select(Offer.id).limit(1))
        assert _line_is_free(fd)  # a read
        begin_write()
        assert not _line_is_free(fd)
        db.session.rollback()
        assert _line_is_free(fd)

        with write_transaction():
            assert not _line_is_free(fd)
        assert _line_is_free(fd)

        with pytest.raises(ZeroDivisionError), write_transaction():
            1 / 0
        assert _line_is_free(fd)

        with write_connection() as conn:
            conn.execute(text("SELECT 1"))
            assert not _line_is_free(fd)
        assert _line_is_free(fd)
        db.session.remove()


@sqlite_only
def test_a_waiting_writer_goes_in_when_the_writer_before_it_commits(app):
    """The second writer waits on the line (not in SQLite's busy handler) and writes once
    the first commits; both writes land."""
    entered, go_on, order = threading.Event(), threading.Event(), []

    def first():
        with app.app_context():
            with write_transaction():
                db.session.execute(text("UPDATE offers SET title = title || ' A'"))
                entered.set()
                go_on.wait(10)
                order.append("first")
            db.session.remove()

    def second():
        with app.app_context():
            with write_transaction():
                order.append("second")
                db.session.execute(text("UPDATE offers SET title = title || ' B'"))
            db.session.remove()

    one = threading.Thread(target=first)
    one.start()
    assert entered.wait(10)
    two = threading.Thread(target=second)
    two.start()
    two.join(0.3)
    assert two.is_alive() and order == []  # waiting in line
    go_on.set()
    one.join(10)
    two.join(10)
    assert order == ["first", "second"]
    with app.app_context():
        assert db.session.scalar(select(Offer.title).limit(1)).endswith(" A B")
        db.session.remove()


@sqlite_only
def test_a_writer_already_in_line_does_not_queue_behind_itself(app, monkeypatch):
    """A second write connection of the thread whose write is open (saving the session in
    the middle of a view's write) must not wait in line behind that thread, forever: it
    goes straight to SQLite's lock, which refuses it after the busy timeout."""
    engine_setup = importlib.import_module("shop.db")  # the package's "db" is the extension
    monkeypatch.setattr(engine_setup, "BUSY_TIMEOUT_MS", 100)  # for connections opened now
    outcome = []

    def save_while_writing():
        with app.app_context():
            db.engine.dispose()
            try:
                with write_transaction(), write_connection() as conn:
                    conn.execute(text("SELECT 1"))
            except Exception as error:  # noqa: BLE001 (the outcome is what is tested)
                outcome.append(error)
            db.session.remove()

    worker = threading.Thread(target=save_while_writing, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "the second write connection waited behind its own thread"
    assert len(outcome) == 1 and "locked" in str(outcome[0])
    with _writers_file(app) as fd:
        assert _line_is_free(fd)
