"""The Alembic migrations build exactly the schema the models describe, both ways."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from shop.extensions import db
from tests.support.database import app_on_fresh_database

SEARCH_COLUMNS = {"search_tags", "search_vector"}


def _search_index(diff) -> bool:
    """The full-text index (a virtual table or a generated column, its index, the tag text
    kept by triggers) lives in the database only; every model column must match exactly."""
    kind = diff[0]
    if kind == "remove_table":
        return diff[1].name.startswith("offers_fts")
    if kind == "remove_index":
        return "search" in (diff[1].name or "")
    if kind == "remove_column":
        return diff[3].name in SEARCH_COLUMNS
    return False


def test_migrations_match_the_models_and_downgrade_cleanly(tmp_path):
    with app_on_fresh_database(tmp_path, "_migrations") as app, app.app_context():
        with db.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": True}
            )
            differences = [
                diff for diff in compare_metadata(context, db.metadata) if not _search_index(diff)
            ]
        assert differences == []
        downgrade(revision="base")
        upgrade()
        db.engine.dispose()
