"""The search index's own schema objects, which migration 0002 creates and owns: the FTS5
tables on SQLite, the search vector and key indexes on PostgreSQL. No model maps them, so
Alembic's autogenerate must leave them alone (``include_object``, set in migrations/env.py).
"""

from __future__ import annotations

import re
from typing import Any

INDEX_TABLES = re.compile(r"^offers_fts(_[a-z]+)?$")
INDEX_INDEXES = frozenset({"ix_offers_search_vector", "ix_offer_tags_search_key"})


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to) -> bool:
    """Alembic's filter: False for the search index's tables and indexes."""
    if type_ == "table" and name and INDEX_TABLES.match(name):
        return False
    return not (type_ == "index" and name in INDEX_INDEXES)
