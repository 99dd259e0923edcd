"""search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 09:00:00

The full-text index of the active offers, kept in sync by the database itself (triggers on
``offers`` and ``offer_tags``), so that every writer — the catalogue loader, the CLI, a script,
a test that truncates and reloads — keeps it right. The index lives beside the models, in
tables of its own: no column is added to ``offers``.

Indexed fields, strongest first: title; tags (the offer's tag names, in order, as one text);
category; description; code line (file and note).

- SQLite: ``offers_fts``, an FTS5 external-content table (no second copy of the text) over
  the view ``offers_search_source``: the active offers with their tags. Tokenizer
  ``unicode61 remove_diacritics 2``. FTS5 must be told a row's old values to forget it, so
  the triggers that remove a row run BEFORE the change (the view still shows what was
  indexed) and the ones that add it run AFTER.
- PostgreSQL: ``offers_fts``, a table with one row per active offer with the fields' text, its shelf
  position, and ``vector``, a generated ``tsvector`` (title A, tags B, category C,
  description and code line D) with a GIN index. Accents are folded by ``shop_search_fold``
  (NFKD, the combining marks removed, anything not a letter or digit made a space), which
  the query side in ``shop.search.query`` mirrors; no extension is needed, so it works in
  any schema. Statement-level triggers keep it in sync; ``ON DELETE CASCADE`` and TRUNCATE
  ... CASCADE empty it with the offers.
"""

# The SQL below is put together from this file's own constants; nothing comes from input.
# ruff: noqa: S608

from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Keep in step with shop.search.query.MARKS.
MARKS = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
# FTS5 columns, in the order of shop.search.engines.BM25_WEIGHTS.
FTS_COLUMNS = "title, tags, category, description, code_file, code_note"


def _tags_of(offer_id: str) -> str:
    """SQLite: an offer's tag names in shelf order, as one text."""
    return (
        "coalesce((SELECT group_concat(name, ' ') FROM (SELECT name FROM offer_tags "
        f"WHERE offer_id = {offer_id} ORDER BY position)), '')"
    )


def _fts_row(command: str, offer_id: str, when: str = "") -> str:
    """SQLite: add (or with 'delete', remove) the index entry of an offer if it is active,
    with its values as they are now."""
    values = "o.id, o.title, " + _tags_of("o.id") + ", o.category, o.description, "
    values += "o.code_file, o.code_note"
    target = "offers_fts (offers_fts, rowid, " if command else "offers_fts (rowid, "
    selected = f"'{command}', {values}" if command else values
    return (
        f"INSERT INTO {target}{FTS_COLUMNS}) SELECT {selected} "
        f"FROM offers AS o WHERE o.id = {offer_id} AND o.active{when};"
    )


def _fts_new(prefix: str) -> str:
    """SQLite: the index entry of the row being written (``new``), if it is active."""
    return (
        f"INSERT INTO offers_fts (rowid, {FTS_COLUMNS}) SELECT {prefix}.id, {prefix}.title, "
        f"{_tags_of(prefix + '.id')}, {prefix}.category, {prefix}.description, "
        f"{prefix}.code_file, {prefix}.code_note WHERE {prefix}.active;"
    )


def _fts_old(prefix: str) -> str:
    """SQLite: forget the index entry of the row being changed (``old``), if it was active."""
    return (
        f"INSERT INTO offers_fts (offers_fts, rowid, {FTS_COLUMNS}) SELECT 'delete', "
        f"{prefix}.id, {prefix}.title, {_tags_of(prefix + '.id')}, {prefix}.category, "
        f"{prefix}.description, {prefix}.code_file, {prefix}.code_note WHERE {prefix}.active;"
    )


OFFER_FIELDS = "id, active, title, category, description, code_file, code_note"
MOVED = " AND new.offer_id <> old.offer_id"  # a tag moved to another offer

SQLITE_UPGRADE = [
    f"""
    CREATE VIEW offers_search_source AS
    SELECT id, title, {_tags_of("offers.id")} AS tags, category, description,
           code_file, code_note
    FROM offers WHERE active
    """,
    f"""
    CREATE VIRTUAL TABLE offers_fts USING fts5(
        {FTS_COLUMNS},
        content='offers_search_source', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2',
        prefix='2 3'
    )
    """,
    f"CREATE TRIGGER offers_search_ai AFTER INSERT ON offers BEGIN {_fts_new('new')} END",
    f"CREATE TRIGGER offers_search_bu BEFORE UPDATE OF {OFFER_FIELDS} ON offers "
    f"BEGIN {_fts_old('old')} END",
    f"CREATE TRIGGER offers_search_au AFTER UPDATE OF {OFFER_FIELDS} ON offers "
    f"BEGIN {_fts_new('new')} END",
    f"CREATE TRIGGER offers_search_bd BEFORE DELETE ON offers BEGIN {_fts_old('old')} END",
    # A tag written: the offer is indexed again with its new tags. (When an offer is deleted
    # its tags go by cascade after it, so these find no active offer and do nothing.)
    "CREATE TRIGGER offer_tags_search_bi BEFORE INSERT ON offer_tags "
    f"BEGIN {_fts_row('delete', 'new.offer_id')} END",
    "CREATE TRIGGER offer_tags_search_ai AFTER INSERT ON offer_tags "
    f"BEGIN {_fts_row('', 'new.offer_id')} END",
    "CREATE TRIGGER offer_tags_search_bd BEFORE DELETE ON offer_tags "
    f"BEGIN {_fts_row('delete', 'old.offer_id')} END",
    "CREATE TRIGGER offer_tags_search_ad AFTER DELETE ON offer_tags "
    f"BEGIN {_fts_row('', 'old.offer_id')} END",
    "CREATE TRIGGER offer_tags_search_bu BEFORE UPDATE OF offer_id, name, position "
    f"ON offer_tags BEGIN {_fts_row('delete', 'old.offer_id')} "
    f"{_fts_row('delete', 'new.offer_id', MOVED)} END",
    "CREATE TRIGGER offer_tags_search_au AFTER UPDATE OF offer_id, name, position "
    f"ON offer_tags BEGIN {_fts_row('', 'old.offer_id')} "
    f"{_fts_row('', 'new.offer_id', MOVED)} END",
    # Index the offers there are.
    "INSERT INTO offers_fts (offers_fts) VALUES ('rebuild')",
]

SQLITE_DOWNGRADE = [
    *(
        f"DROP TRIGGER IF EXISTS {name}"
        for name in (
            "offer_tags_search_au",
            "offer_tags_search_bu",
            "offer_tags_search_ad",
            "offer_tags_search_bd",
            "offer_tags_search_ai",
            "offer_tags_search_bi",
            "offers_search_bd",
            "offers_search_au",
            "offers_search_bu",
            "offers_search_ai",
        )
    ),
    "DROP TABLE IF EXISTS offers_fts",
    "DROP VIEW IF EXISTS offers_search_source",
]

PG_TAGS = """coalesce((SELECT string_agg(t.name, ' ' ORDER BY t.position)
              FROM offer_tags AS t WHERE t.offer_id = {offer}), '')"""

PG_UPGRADE = [
    # IMMUTABLE (its parts are), so a generated column may use it. Only pg_catalog functions.
    f"""
    CREATE FUNCTION shop_search_fold(value text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT regexp_replace(
            regexp_replace(normalize(value, NFKD), '{MARKS}', '', 'g'),
            '(\\W|_)+', ' ', 'g')
    $$
    """,
    """
    CREATE TABLE offers_fts (
        offer_id integer PRIMARY KEY REFERENCES offers (id) ON DELETE CASCADE,
        position integer NOT NULL,
        title text NOT NULL,
        tags text NOT NULL,
        category text NOT NULL,
        body text NOT NULL,
        vector tsvector GENERATED ALWAYS AS (
            setweight(to_tsvector('simple'::regconfig, shop_search_fold(title)), 'A')
            || setweight(to_tsvector('simple'::regconfig, shop_search_fold(tags)), 'B')
            || setweight(to_tsvector('simple'::regconfig, shop_search_fold(category)), 'C')
            || setweight(to_tsvector('simple'::regconfig, shop_search_fold(body)), 'D')
        ) STORED
    )
    """,
    # fastupdate off: no pending list that every search would scan until a vacuum; the
    # catalogue is written seldom and read on every keystroke.
    "CREATE INDEX ix_offers_search_vector ON offers_fts USING gin (vector) WITH (fastupdate = off)",
    # Offers written: active ones are (re)indexed, inactive ones leave the index.
    f"""
    CREATE FUNCTION shop_offers_search() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        DELETE FROM offers_fts AS s USING new_rows AS n
        WHERE s.offer_id = n.id AND NOT n.active;
        INSERT INTO offers_fts (offer_id, position, title, tags, category, body)
        SELECT n.id, n.position, n.title, {PG_TAGS.format(offer="n.id")}, n.category,
               n.description || ' ' || n.code_file || ' ' || n.code_note
        FROM new_rows AS n WHERE n.active
        ON CONFLICT (offer_id) DO UPDATE SET
            position = EXCLUDED.position, title = EXCLUDED.title, tags = EXCLUDED.tags,
            category = EXCLUDED.category, body = EXCLUDED.body
        WHERE (offers_fts.position, offers_fts.title, offers_fts.tags,
               offers_fts.category, offers_fts.body)
              IS DISTINCT FROM (EXCLUDED.position, EXCLUDED.title, EXCLUDED.tags,
                                EXCLUDED.category, EXCLUDED.body);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER offers_search_insert AFTER INSERT ON offers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offers_search()
    """,
    """
    CREATE TRIGGER offers_search_update AFTER UPDATE ON offers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offers_search()
    """,
    # Tags written: the tags text of their offers again. One UPDATE per statement.
    f"""
    CREATE FUNCTION shop_offer_tags_search() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            UPDATE offers_fts SET tags = '' WHERE tags <> '';
        ELSIF TG_OP = 'INSERT' THEN
            UPDATE offers_fts AS s SET tags = {PG_TAGS.format(offer="s.offer_id")}
            WHERE s.offer_id IN (SELECT offer_id FROM new_rows);
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE offers_fts AS s SET tags = {PG_TAGS.format(offer="s.offer_id")}
            WHERE s.offer_id IN (SELECT offer_id FROM old_rows);
        ELSE
            UPDATE offers_fts AS s SET tags = {PG_TAGS.format(offer="s.offer_id")}
            WHERE s.offer_id IN (SELECT offer_id FROM old_rows
                                 UNION SELECT offer_id FROM new_rows);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER offer_tags_search_insert AFTER INSERT ON offer_tags
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offer_tags_search()
    """,
    """
    CREATE TRIGGER offer_tags_search_delete AFTER DELETE ON offer_tags
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offer_tags_search()
    """,
    """
    CREATE TRIGGER offer_tags_search_update AFTER UPDATE ON offer_tags
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offer_tags_search()
    """,
    # TRUNCATE fires no row triggers; the offers keep no stale tags when only the tags go.
    """
    CREATE TRIGGER offer_tags_search_truncate AFTER TRUNCATE ON offer_tags
    FOR EACH STATEMENT EXECUTE FUNCTION shop_offer_tags_search()
    """,
    # Index the offers there are.
    f"""
    INSERT INTO offers_fts (offer_id, position, title, tags, category, body)
    SELECT o.id, o.position, o.title, {PG_TAGS.format(offer="o.id")}, o.category,
           o.description || ' ' || o.code_file || ' ' || o.code_note
    FROM offers AS o WHERE o.active
    """,
]

PG_DOWNGRADE = [
    "DROP TRIGGER IF EXISTS offer_tags_search_truncate ON offer_tags",
    "DROP TRIGGER IF EXISTS offer_tags_search_update ON offer_tags",
    "DROP TRIGGER IF EXISTS offer_tags_search_delete ON offer_tags",
    "DROP TRIGGER IF EXISTS offer_tags_search_insert ON offer_tags",
    "DROP FUNCTION IF EXISTS shop_offer_tags_search()",
    "DROP TRIGGER IF EXISTS offers_search_update ON offers",
    "DROP TRIGGER IF EXISTS offers_search_insert ON offers",
    "DROP FUNCTION IF EXISTS shop_offers_search()",
    "DROP TABLE IF EXISTS offers_fts",
    "DROP FUNCTION IF EXISTS shop_search_fold(text)",
]


def upgrade():
    # The offers of a tag straight from an index (exact-tag order, tag filter).
    op.create_index("ix_offer_tags_search_key", "offer_tags", ["key", "offer_id"])
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        statements = SQLITE_UPGRADE
    elif dialect == "postgresql":
        statements = PG_UPGRADE
    else:
        raise NotImplementedError(f"no search index for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    for statement in SQLITE_DOWNGRADE if dialect == "sqlite" else PG_DOWNGRADE:
        op.execute(statement)
    op.drop_index("ix_offer_tags_search_key", table_name="offer_tags")
