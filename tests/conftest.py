"""Fixtures: an app on a fresh database per test (SQLite file, or PostgreSQL when
SHOP_TEST_DATABASE_URL is set), its test client and CLI runner."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
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


def worker_schema(suffix: str = "") -> str:
    """A PostgreSQL schema of this test worker's own (pytest-xdist runs several)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return re.sub(r"[^a-z0-9_]", "_", f"test_{worker}{suffix}".lower())


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


def migrated_database(instance: Path, url: str) -> None:
    """Run the Alembic migrations and load the catalogue into the database at ``url``."""
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": instance, "DATABASE_URL": url, "SECRET_KEY": TEST_SECRET}
    )
    with app.app_context():
        upgrade()
        load_catalog()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Migrate once per test worker: a template SQLite file, or a PostgreSQL schema."""
    instance = tmp_path_factory.mktemp("template-instance")
    url = create_schema(worker_schema()) if PG_URL else f"sqlite:///{instance / 'shop.sqlite3'}"
    migrated_database(instance, url)
    return url


def _tables(conn) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename <> 'alembic_version'"
        )
    )
    return [row[0] for row in rows]


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    """A fresh database holding the migrated schema and the catalogue."""
    if not PG_URL:
        path = Path(database_template.removeprefix("sqlite:///"))
        target = tmp_path / "db" / "shop.sqlite3"
        target.parent.mkdir()
        shutil.copyfile(path, target)
        return f"sqlite:///{target}"
    engine = create_engine(database_template)
    with engine.begin() as conn:
        tables = ", ".join(f'"{name}"' for name in _tables(conn))
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
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
