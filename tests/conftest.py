"""Fixtures: an app on a fresh database per test (SQLite file, or PostgreSQL when
SHOP_TEST_DATABASE_URL is set), its test client and CLI runner, and an administrator.

The helpers the tests share are in tests/support/; fixtures are here, and nothing imports
from a conftest."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine

from shop import create_app
from shop.catalog.services import load_catalog
from shop.extensions import db
from tests.support.accounts import new_account
from tests.support.database import (
    PG_URL,
    TEST_SECRET,
    create_schema,
    drop_schema,
    migrated_database,
    worker_schema,
)


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
    # fires the row triggers that keep derived data (such as a search index) in step. The
    # rows the migrations write (the catalogue's version, the studio's default hours and
    # limits) are put back as the migrations left them.
    engine = create_engine(database_template)
    with engine.begin() as conn:
        seeded = _SEEDED.setdefault(
            database_template,
            {
                name: conn.execute(db.metadata.tables[name].select()).mappings().all()
                for name in SEEDED_TABLES
            },
        )
        for table in reversed(db.metadata.sorted_tables):
            if table.name != "catalog_version":  # its single row stays (a counter)
                conn.execute(table.delete())
        for name, rows in seeded.items():
            if rows and name != "catalog_version":
                conn.execute(db.metadata.tables[name].insert(), [dict(row) for row in rows])
    engine.dispose()
    return database_template


# Tables the migrations fill, and their rows as migrated (per template database).
SEEDED_TABLES = ("catalog_version", "call_hours", "call_settings")
_SEEDED: dict[str, dict] = {}


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


@pytest.fixture
def admin(app: Flask, runner: FlaskCliRunner) -> FlaskClient:
    """A signed-in administrator's browser (a test client)."""
    client = app.test_client()
    address = new_account(client)
    result = runner.invoke(args=["users", "create-admin", address])
    assert result.exit_code == 0, result.output
    return client
