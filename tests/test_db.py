"""Engine set-up: SQLite pragmas, write transactions, connections after fork."""

from __future__ import annotations

import os
import sqlite3

import pytest
from sqlalchemy import select, text

from shop.catalog.models import Offer
from shop.db import begin_write, write_connection
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
