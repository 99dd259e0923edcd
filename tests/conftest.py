"""Fixtures: an app on a fresh database per test (SQLite file, or PostgreSQL when
SHOP_TEST_DATABASE_URL is set), its test client and CLI runner."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

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


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrate once per test worker: a template SQLite file, or a PostgreSQL schema."""
    instance = tmp_path_factory.mktemp("template-instance")
    url = create_schema(worker_schema()) if PG_URL else f"sqlite:///{instance / 'shop.sqlite3'}"
    migrated_database(instance, url)
    yield url
    if PG_URL:
        drop_schema(worker_schema())


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    """A fresh database holding the migrated schema and the catalogue."""
    if not PG_URL:
        path = Path(database_template.removeprefix("sqlite:///"))
        target = tmp_path / "db" / "shop.sqlite3"
        target.parent.mkdir()
        shutil.copyfile(path, target)
        return f"sqlite:///{target}"
    # DELETE rather than TRUNCATE: on tables this small it is many times faster, and it
    # fires the row triggers that keep derived data (such as a search index) in step.
    engine = create_engine(database_template)
    with engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "catalog_version":  # the migration's single row stays
                conn.execute(table.delete())
    engine.dispose()
    return database_template


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The shop on a fresh database with the catalogue loaded."""
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path / "instance",
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET,
            "PUBLIC_URL": None,
        }
    )
    if PG_URL:
        with app.app_context():
            load_catalog()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
