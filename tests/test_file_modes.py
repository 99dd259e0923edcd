"""The instance folder and the SQLite files hold password hashes and customers' data: they
are readable by their owner only, whatever the umask the shop was started with."""

from __future__ import annotations

import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_migrate import upgrade

from shop import create_app
from shop.extensions import db
from tests.support.database import PG_URL, TEST_SECRET
from tests.support.shopper import Shopper

ROOT = Path(__file__).resolve().parents[1]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextmanager
def umask(value: int):
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def make(instance: Path, url: str | None = None):
    return create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": instance,
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SECRET,
        }
    )


@pytest.mark.skipif(bool(PG_URL), reason="the SQLite files are SQLite's")
def test_a_new_instance_and_its_database_are_private(tmp_path):
    instance = tmp_path / "instance"
    with umask(0o022):
        app = make(instance)
        with app.app_context():
            upgrade()
            db.session.remove()
        Shopper(app.test_client()).add("r2-bucket-hat")  # a write: -wal and -shm exist
        with app.app_context():
            db.engine.dispose()
    assert mode(instance) == 0o700
    files = sorted(instance.glob("*.sqlite3*"))
    assert {f.name for f in files} >= {"shop.sqlite3"}
    for path in files:
        assert mode(path) == 0o600, path


@pytest.mark.skipif(bool(PG_URL), reason="the SQLite files are SQLite's")
def test_an_open_instance_is_closed_at_start(tmp_path):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    instance.chmod(0o755)
    for name in ("shop.sqlite3", "shop.sqlite3-wal", "shop.sqlite3-shm"):
        (instance / name).write_bytes(b"")
        (instance / name).chmod(0o644)
    make(instance)
    assert mode(instance) == 0o700
    for name in ("shop.sqlite3", "shop.sqlite3-wal", "shop.sqlite3-shm"):
        assert mode(instance / name) == 0o600


def test_the_instance_is_private_on_any_database(tmp_path, database_url):
    with umask(0o022):
        make(tmp_path / "elsewhere", database_url)
    assert mode(tmp_path / "elsewhere") == 0o700


def test_the_start_script_and_the_service_set_a_private_umask():
    assert re.search(r"^umask 077$", (ROOT / "scripts" / "run").read_text(), re.M)
    assert "UMask=0077" in (ROOT / "README.md").read_text()
