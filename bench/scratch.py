"""Scratch databases for the benchmarks: a SQLite file in the run's folder, or a schema of
its own in a PostgreSQL database (created, migrated, dropped afterwards), and the shop on it."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import create_engine, text

from shop import create_app
from shop.catalog.services import load_catalog
from shop.extensions import db


@contextmanager
def scratch_url(name: str, folder: Path, pg_url: str | None) -> Iterator[str]:
    """The URL of an empty database: ``folder``'s SQLite file, or with ``pg_url`` a schema
    ``bench_<name>_<random>`` there, dropped at the end."""
    if not pg_url:
        yield f"sqlite:///{folder / 'bench.sqlite3'}"
        return
    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        separator = "&" if "?" in pg_url else "?"
        yield f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def scratch_app(
    name: str, folder: Path, pg_url: str | None, *, catalog: bool = False, **config: Any
) -> Iterator[Flask]:
    """The shop on a migrated scratch database (see ``scratch_url``), with the catalogue
    loaded when ``catalog``; ``config`` overrides its settings."""
    with scratch_url(name, folder, pg_url) as url:
        app = create_app(
            {"INSTANCE_PATH": folder, "DATABASE_URL": url, "SECRET_KEY": "bench", **config}
        )
        try:
            with app.app_context():
                upgrade(revision="heads")
                if catalog:
                    load_catalog()
                db.session.remove()
            yield app
        finally:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@contextmanager
def backend_app(name: str, backend: str, pg_url: str | None, **options: Any) -> Iterator[Flask]:
    """``scratch_app`` in a temporary folder of its own: on SQLite when ``backend`` is
    "sqlite", else on ``pg_url``'s PostgreSQL."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as folder:
        url = None if backend == "sqlite" else pg_url
        with scratch_app(name, Path(folder), url, **options) as app:
            yield app


def percentile(values: list[float], share: float) -> float:
    """The value at ``share`` (0.95: the p95) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]
