"""Databases for tests: the PostgreSQL URL when one is given, per-run schemas, apps on
migrated databases of their own (for servers and tests that move the migrations), and the
statements an app sends."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text

from shop import create_app
from shop.catalog.services import load_catalog
from shop.extensions import db

PG_URL = os.environ.get("SHOP_TEST_DATABASE_URL")
TEST_SECRET = "test-secret-key-not-for-production"


# One id per test run (pytest-xdist gives its workers the same one), so that two runs on one
# PostgreSQL database at the same time never share a schema.
RUN_ID = (os.environ.get("PYTEST_XDIST_TESTRUNUID") or uuid.uuid4().hex)[:8]


def worker_schema(suffix: str = "") -> str:
    """A PostgreSQL schema of this run's and this test worker's own."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return re.sub(r"[^a-z0-9_]", "_", f"test_{RUN_ID}_{worker}{suffix}".lower())


def schema_url(base: str, schema: str) -> str:
    """The database URL with its search_path set to ``schema``."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options=-csearch_path%3D{schema}"


def create_schema(schema: str) -> str:
    """Drop and create ``schema`` in the test database; returns a URL that uses it."""
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema_url(PG_URL, schema)


def drop_schema(schema: str) -> None:
    """Drop a schema made by ``create_schema``."""
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def migrated_database(instance: Path, url: str, catalog: Path | None = None) -> None:
    """Run the Alembic migrations and load the catalogue into the database at ``url``."""
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": instance, "DATABASE_URL": url, "SECRET_KEY": TEST_SECRET}
    )
    with app.app_context():
        upgrade()
        load_catalog(catalog)
        db.session.remove()
        db.engine.dispose()


@contextmanager
def fresh_database(instance: Path, suffix: str, catalog: Path | None = None) -> Iterator[str]:
    """A migrated database with the catalogue, for a server of the tests' own: a SQLite file
    in ``instance``, or a PostgreSQL schema (dropped afterwards). Yields its URL."""
    schema = None
    if PG_URL:
        schema = worker_schema(suffix)
        url = create_schema(schema)
    else:
        url = f"sqlite:///{instance / 'shop.sqlite3'}"
    try:
        migrated_database(instance, url, catalog=catalog)
        yield url
    finally:
        if schema:
            drop_schema(schema)


@contextmanager
def app_on_fresh_database(instance: Path, suffix: str) -> Iterator[Flask]:
    """The shop on a migrated database of its own (for tests that move its migrations)."""
    with fresh_database(instance, suffix) as url:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": instance,
                "DATABASE_URL": url,
                "SECRET_KEY": TEST_SECRET,
            }
        )
        try:
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@contextmanager
def statements_sent(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements (with their parameters) the app's engine sends to the database
    while the block runs, in order."""
    sent: list[tuple[str, Any]] = []

    def record(conn, cursor, statement, parameters, *rest):
        sent.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)
