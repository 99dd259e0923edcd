"""Full-text search of the offers over SQLite FTS5 or PostgreSQL, chosen by the database.

The index is built by migration 0002 and kept in sync by the database (triggers; a generated
column on PostgreSQL). Both backends see the same words: the query is cleaned and cut at
``MAX_QUERY_LENGTH`` characters, its accents are removed (NFKD, then the combining marks), and
it is split into words of letters and digits. Everything else — quotes, ``*``, ``-``, ``:``,
parentheses, ``NEAR``, ``AND``/``OR``/``NOT`` — is a separator or a quoted word, never
syntax: each word goes to the engine as a quoted string (FTS5) or a quoted lexeme
(tsquery), with only the last one marked as a prefix. Every word must match.

Ranking, the same on both backends:

1. offers carrying a tag that is exactly the query (case and accents aside), in shelf order
   — what the tag's own page lists;
2. then offers whose title holds every word; then title or tags; then title, tags or
   category; then the rest (description, code line): the fields' weights as strict tiers;
3. inside a tier, BM25 over the tier's fields (FTS5, weights title 10 > tags 5 > category
   2.5 > description and code 1) or ``ts_rank`` with weights A > B > C > D (PostgreSQL);
   ties go by shelf order (by id on SQLite, where BM25, which weighs length in, seldom ties).

Tiers also keep a search fast at scale: a page is filled from the first tiers, so a common
word does not have every one of its thousands of matches scored (BM25 costs FTS5 about 1.5 µs
a matching row; see bench/search.py). On SQLite a tier can still be large (at 100,000 offers,
"sync st" finds 5,800 offers with "sync" in a tag and a title word starting "st"), so BM25
scores a tier in windows of ``SCORED_PER_WINDOW`` matches in id order (the catalogue's
order): the first page is the best of the tier's first thousand matches, the next window's
best follow once those run out. Below a thousand matches a tier, as in the shop's own
catalogue, that is the exact BM25 order. The cap bounds the work of a page the way
Elasticsearch's ``max_expansions`` or Typesense's ``max_candidates`` do; PostgreSQL, which
tests a row's fields in place, ranks every match exactly.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy import Integer, Select, bindparam, case, column, func, select, table, text
from sqlalchemy.sql.expression import literal_column

from shop.catalog import shelf
from shop.catalog.models import Offer, OfferTag
from shop.catalog.shelf import ShelfOffer
from shop.extensions import db
from shop.text import clean_text

MAX_QUERY_LENGTH = 100
MAX_LIMIT = 100
# Combining marks removed by accent folding. Keep in step with migration 0002, which folds
# the PostgreSQL index with the same ranges (SQLite's remove_diacritics does its own).
MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
# BM25 weights in the column order of offers_fts:
# title, tags, category, description, code_file, code_note.
BM25_WEIGHTS = (10.0, 5.0, 2.5, 1.0, 1.0, 1.0)

_MARKS_RE = re.compile(f"[{MARKS}]")
_WORD_RE = re.compile(r"[^\W_]+")
# A word as it appears in shown text: letters, digits and the marks that sit on them.
_TEXT_WORD_RE = re.compile(rf"(?:[^\W_]|[{MARKS}])+")


# ---------------------------------------------------------------- the query


def strip_accents(value: str) -> str:
    """The text in compatibility-decomposed form without its combining marks ("é" → "e")."""
    return _MARKS_RE.sub("", unicodedata.normalize("NFKD", value))


def fold(value: str) -> str:
    """Accents removed and case folded: how two words are compared for highlighting."""
    return strip_accents(value).casefold()


@dataclass(frozen=True)
class Query:
    """A visitor's query, cleaned and split into the words the engines look for."""

    text: str
    words: tuple[str, ...]

    @property
    def exact_terms(self) -> frozenset[str]:
        """Folded words that must match whole (every word but the last)."""
        return frozenset(fold(word) for word in self.words[:-1])

    @property
    def prefix_term(self) -> str | None:
        """The folded last word, which matches as a prefix."""
        return fold(self.words[-1]) if self.words else None


def parse_query(raw: str | None) -> Query:
    """Clean ``raw`` (control characters out, white space folded, cut at 100 characters)
    and split it into accent-free words of letters and digits; case is left to the engines."""
    cleaned = clean_text(raw, MAX_QUERY_LENGTH)
    return Query(text=cleaned, words=tuple(_WORD_RE.findall(strip_accents(cleaned))))


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: each word a quoted string, the last one a prefix."""
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    return " ".join(quoted) + "*"


def tsquery(words: Sequence[str], weights: str = "") -> str:
    """A tsquery text: each word a quoted lexeme joined with ``&``, the last one a prefix;
    ``weights`` (such as "AB") keeps every word to the fields of those weights."""
    quoted = ["'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words]
    parts = [f"{word}:{weights}" if weights else word for word in quoted[:-1]]
    parts.append(f"{quoted[-1]}:*{weights}")
    return " & ".join(parts)


# ---------------------------------------------------------------- highlighting


def highlight(value: str, query: Query) -> Markup:
    """``value`` escaped, with each word that the query matches wrapped in ``<mark>``.

    Done here rather than by the engines so that both backends mark the same words.
    """
    prefix = query.prefix_term
    if prefix is None:
        return escape(value)
    exact = query.exact_terms

    def matches(word: str) -> bool:
        return any(
            part in exact or part.startswith(prefix) for part in _WORD_RE.findall(fold(word))
        )

    parts: list[Markup] = []
    last = 0
    for found in _TEXT_WORD_RE.finditer(value):
        if matches(found.group()):
            parts.append(escape(value[last : found.start()]))
            parts.append(Markup("<mark>%s</mark>") % found.group())
            last = found.end()
    parts.append(escape(value[last:]))
    return Markup("").join(parts)


# ---------------------------------------------------------------- the service


@dataclass(frozen=True)
class SearchResults:
    """One page of results: the offers in rank order and the number of all matches."""

    query: Query
    offers: list[ShelfOffer]
    total: int
    limit: int
    offset: int
    tag: str | None = None


# The fields an offer must hold every word in, tier by tier (the last tier: any field).
TIERS: tuple[tuple[str, ...], ...] = (
    ("title",),
    ("title", "tags"),
    ("title", "tags", "category"),
)
# SQLite: the most matches of one tier that BM25 scores at once (see the module's docstring).
SCORED_PER_WINDOW = 1000
# PostgreSQL's weight letter of each field (description and code line are D).
PG_WEIGHTS = {"title": "A", "tags": "B", "category": "C"}


class _Engine:
    """One backend's statements over the active offers that match the words (and carry
    ``tag``): their number, the exact-tag offers, and a tier's offers in rank order."""

    def __init__(self, query: Query, tag: str | None) -> None:
        self.words = query.words
        self.dialect = db.session.get_bind().dialect.name
        # Both indexes hold the active offers only, so no join with offers is needed.
        if self.dialect == "sqlite":
            fts = table("offers_fts", column("rowid", Integer))
            self.source, self.id = fts, fts.c.rowid
            # "+rowid" keeps the planner from handing an IN list to FTS5, which would run
            # the MATCH again for every id in it (seconds at 100,000 offers).
            self.filter_id = literal_column("+offers_fts.rowid", Integer)
        elif self.dialect == "postgresql":
            index = table("offers_fts", column("offer_id", Integer), column("position", Integer))
            self.source, self.id = index, index.c.offer_id
            self.filter_id = index.c.offer_id
        else:
            raise RuntimeError(f"search supports SQLite and PostgreSQL, not {self.dialect}")
        self.filters: list = []
        self.tagged = None
        if tag is not None:
            self.tagged = select(OfferTag.offer_id).where(OfferTag.key == tag.lower())
            self.filters.append(self.filter_id.in_(self.tagged))

    def _tsquery(self, fields: tuple[str, ...] | None, once: bool = False):
        """The words as a tsquery, kept to ``fields``. In a WHERE clause the planner sees
        through to_tsquery() to estimate the matches and pick the GIN index; elsewhere
        ``once`` makes it a subquery, computed once rather than for every row (the function
        is only STABLE)."""
        labels = "".join(PG_WEIGHTS[field] for field in fields) if fields else ""
        text_query = bindparam(None, tsquery(self.words, labels), unique=True)
        parsed = func.to_tsquery(literal_column("'simple'"), text_query)
        return select(parsed).scalar_subquery() if once else parsed

    def _match(self, fields: tuple[str, ...] | None):
        """Every word in one of ``fields`` (None: in any field)."""
        if self.dialect == "sqlite":
            expression = fts5_query(self.words)
            if fields:
                expression = "{" + " ".join(fields) + "} : (" + expression + ")"
            return text("offers_fts MATCH :match").bindparams(
                bindparam("match", expression, unique=True)
            )
        return literal_column("offers_fts.vector").op("@@")(self._tsquery(fields))

    def _rank(self, fields: tuple[str, ...] | None) -> list:
        if self.dialect == "sqlite":
            # bm25() is lower when better; a column filter limits it to the tier's fields.
            # Ties (rare: BM25 weighs the offer's length in) go by id.
            weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
            return [literal_column(f"bm25(offers_fts, {weights})"), self.id]
        # Normalization 1 divides by 1 + log(length), as BM25 favours short offers too;
        # the weight letters in the tier's query keep the rank to the tier's fields.
        vector = literal_column("offers_fts.vector")
        rank = func.ts_rank(vector, self._tsquery(fields, once=True), 1)
        return [rank.desc(), self.source.c.position, self.id]

    def count(self) -> int:
        counted = select(func.count()).select_from(self.source)
        return db.session.scalar(counted.where(self._match(None), *self.filters)) or 0

    def ids(self) -> Select:
        """The matching ids, unordered."""
        return select(self.id).select_from(self.source).where(self._match(None), *self.filters)

    def exact(self, keys: list[str], limit: int) -> list[int]:
        """Active offers carrying a tag with one of ``keys`` (and ``tag``), in shelf order.

        Their tag holds the query's words, so they match it.
        """
        carrying = select(OfferTag.offer_id).where(OfferTag.key.in_(keys))
        statement = select(Offer.id).where(Offer.active.is_(True), Offer.id.in_(carrying))
        if self.tagged is not None:
            statement = statement.where(Offer.id.in_(self.tagged))
        ordered = statement.order_by(Offer.position, Offer.id).limit(limit)
        return list(db.session.scalars(ordered))

    def page(self, keys: list[str], limit: int, offset: int) -> tuple[list[int], int]:
        """PostgreSQL: the whole ranking in one statement, the count riding along.

        Testing a row's vector against a query is cheap here, so each match's tier is worked
        out in place; one scan instead of one per tier.
        """
        if offset > 2**62 or not limit:  # past any end, or only the count wanted
            return [], self.count()
        exact = self.id.in_(select(OfferTag.offer_id).where(OfferTag.key.in_(keys)))
        vector = literal_column("offers_fts.vector")
        queries = [self._tsquery(fields, once=True) for fields in TIERS]
        tests = [vector.op("@@")(query) for query in queries]
        tier = case((exact, -1), *((test, number) for number, test in enumerate(tests)), else_=3)
        rank = case(
            (exact, 0.0),
            *(
                (test, func.ts_rank(vector, query, 1))
                for test, query in zip(tests, queries, strict=True)
            ),
            else_=func.ts_rank(vector, self._tsquery(None, once=True), 1),
        )
        statement = (
            select(self.id, func.count().over())
            .select_from(self.source)
            .where(self._match(None), *self.filters)
            .order_by(tier, rank.desc(), self.source.c.position, self.id)
            .limit(limit)
            .offset(offset)
        )
        rows = db.session.execute(statement).all()
        if rows:
            return [row[0] for row in rows], rows[0][1]
        return [], self.count() if offset else 0  # past the end, or nothing matched

    def tier(self, fields: tuple[str, ...] | None, exact_keys: list[str], limit: int) -> list[int]:
        """The best ``limit`` ids holding every word in ``fields`` (cumulative tiers).

        BM25 is worked out in windows of ``SCORED_PER_WINDOW`` matches in id order (see the
        module's docstring): a tier that small is ranked whole, a larger one window by
        window, each window after the one before.
        """
        conditions = [self._match(fields), *self.filters]  # a tier's match implies the query's
        if exact_keys:
            carrying = select(OfferTag.offer_id).where(OfferTag.key.in_(exact_keys))
            conditions.append(self.filter_id.not_in(carrying))
        found: list[int] = []
        after = None
        while len(found) < limit:
            window = [*conditions] if after is None else [*conditions, self.id > after]
            # FTS5 walks its matches in id order for nothing, and seeks to an id range.
            members = list(
                db.session.scalars(
                    select(self.id)
                    .select_from(self.source)
                    .where(*window)
                    .order_by(self.id)
                    .limit(SCORED_PER_WINDOW)
                )
            )
            if not members:
                break
            statement = (
                select(self.id)
                .select_from(self.source)
                .where(*window, self.id <= members[-1])
                .order_by(*self._rank(fields))
                .limit(limit - len(found))
            )
            found += db.session.scalars(statement)
            if len(members) < SCORED_PER_WINDOW:
                break
            after = members[-1]
        return found


def _exact_tag_keys(query: Query) -> list[str]:
    """The query as a tag key, plain and without accents."""
    return sorted({query.text.lower(), strip_accents(query.text).lower()})


def _ranked(query: Query, tag: str | None, limit: int, offset: int) -> tuple[list[int], int]:
    """A page of matching ids in rank order (see the module's docstring), and their number."""
    engine = _Engine(query, tag)
    if engine.dialect == "postgresql":
        return engine.page(_exact_tag_keys(query), limit, offset)
    # SQLite: FTS5 cannot say per row which fields matched, but it streams a column-filtered
    # MATCH cheaply: tier by tier, until the page is full.
    total = engine.count()
    if total <= offset or not limit:
        return [], total
    want = min(offset + limit, total)  # no tier is asked for matches that do not exist
    keys = _exact_tag_keys(query)
    ordered = engine.exact(keys, want)
    if not ordered:
        keys = []
    seen = set(ordered)
    from_tiers = 0  # ids taken from the (exhausted, nested) tiers so far
    for fields in (*TIERS, None):
        if len(ordered) >= want:
            break
        # Tiers are nested, so this one holds all that the earlier ones gave: ask for as
        # many more as are still wanted.
        asked = want - len(ordered) + from_tiers
        found = engine.tier(fields, keys, asked)
        fresh = [offer_id for offer_id in found if offer_id not in seen]
        fresh = fresh[: want - len(ordered)]
        ordered += fresh
        seen.update(fresh)
        from_tiers += len(fresh)
    return ordered[offset:want], total


def _load(ids: list[int]) -> list[ShelfOffer]:
    """The offers with these ids, in this order, from the shelf (every active offer, kept
    per catalogue version: no statement)."""
    if not ids:
        return []
    offers = shelf.current().by_id
    return [offers[offer_id] for offer_id in ids if offer_id in offers]


def search(
    query: str | None, limit: int = 24, offset: int = 0, tag: str | None = None
) -> SearchResults:
    """Active offers matching ``query`` in rank order, ``limit`` of them from ``offset``.

    An empty query matches every active offer in shelf order; a query with no letters or
    digits matches nothing. ``tag`` (any case) keeps the offers that carry it.
    """
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    limit = min(limit, MAX_LIMIT)
    parsed = parse_query(query)
    if parsed.text and not parsed.words:
        return SearchResults(parsed, [], 0, limit, offset, tag)

    if not parsed.words:  # every active offer, shelf order
        shelf = select(Offer.id).where(Offer.active.is_(True))
        if tag is not None:
            shelf = shelf.where(
                Offer.id.in_(select(OfferTag.offer_id).where(OfferTag.key == tag.lower()))
            )
        total = db.session.scalar(select(func.count()).select_from(shelf.subquery())) or 0
        ids = []
        if total > offset and limit:
            ordered = shelf.order_by(Offer.position, Offer.id).limit(limit).offset(offset)
            ids = list(db.session.scalars(ordered))
        return SearchResults(parsed, _load(ids), total, limit, offset, tag)

    ids, total = _ranked(parsed, tag, limit, offset)  # counts first: no offset past the end
    return SearchResults(parsed, _load(ids), total, limit, offset, tag)


def tag_counts(query: str | None, limit: int = 12) -> list[tuple[str, int]]:
    """The tags of the offers that match ``query``, most frequent first, with their counts."""
    parsed = parse_query(query)
    if parsed.text and not parsed.words:
        return []
    if parsed.words:
        matching = _Engine(parsed, None).ids()
    else:
        matching = select(Offer.id).where(Offer.active.is_(True))
    rows = db.session.execute(
        select(func.min(OfferTag.name), func.count())
        .where(OfferTag.offer_id.in_(matching))
        .group_by(OfferTag.key)
        .order_by(func.count().desc(), func.min(OfferTag.name))
        .limit(limit)
    )
    return [(name, count) for name, count in rows]
