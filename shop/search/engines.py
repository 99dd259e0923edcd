"""The two search engines behind ``shop.search.services``: SQLite FTS5 and PostgreSQL's text
search, one class each, over the index migration 0002 builds (it holds the active offers
only, so no join with offers is needed).

Ranking, the same on both:

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

from abc import ABC, abstractmethod
from typing import Any

from sqlalchemy import Integer, Select, bindparam, case, column, func, select, table, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import literal_column

from shop.catalog.models import Offer, OfferTag
from shop.search.query import Query, fts5_query, tsquery

# The fields an offer must hold every word in, tier by tier (the last tier: any field).
TIERS: tuple[tuple[str, ...], ...] = (
    ("title",),
    ("title", "tags"),
    ("title", "tags", "category"),
)
# BM25 weights in the column order of offers_fts:
# title, tags, category, description, code_file, code_note.
BM25_WEIGHTS = (10.0, 5.0, 2.5, 1.0, 1.0, 1.0)
# SQLite: the most matches of one tier that BM25 scores at once (see the module's docstring).
SCORED_PER_WINDOW = 1000
# PostgreSQL's weight letter of each field (description and code line are D).
PG_WEIGHTS = {"title": "A", "tags": "B", "category": "C"}


class Engine(ABC):
    """One engine's statements over the active offers that match a query's words.

    The statements of a search are built once per shape (with a tag filter or not, and so
    on), with bound parameters for the query's words: building a statement and working out
    its cache key cost SQLAlchemy more than FTS5 needs to answer it.
    """

    source = None
    id = None
    # The id as a WHERE clause names it (SQLite needs it unary-plussed, see there).
    filter_id = None

    def __init__(self) -> None:
        self._built: dict[tuple, Any] = {}

    def built(self, name: str, *shape: bool) -> Any:
        """The statement ``name`` of this shape, built on first use (``_build_<name>``)."""
        key = (name, *shape)
        statement = self._built.get(key)
        if statement is None:
            statement = self._built[key] = getattr(self, f"_build_{name}")(*shape)
        return statement

    @abstractmethod
    def match(self, query: Query, fields: tuple[str, ...] | None):
        """Every word in one of ``fields`` (None: in any field), as a condition of its own."""

    @abstractmethod
    def ranked(
        self, session: Session, query: Query, tag: str | None, limit: int, offset: int
    ) -> tuple[list[int], int]:
        """A page of matching ids in rank order (see the module's docstring), and their
        number; ``tag`` (a key) keeps the offers that carry it."""

    def ids(self, query: Query) -> Select:
        """The matching ids, unordered."""
        return select(self.id).select_from(self.source).where(self.match(query, None))

    def tagged(self) -> Any:
        """The condition that the offer carries the tag bound as ``tag``."""
        return self.filter_id.in_(select(OfferTag.offer_id).where(OfferTag.key == bindparam("tag")))

    def _build_count(self, tagged: bool) -> Select:
        conditions = [self.matches(), *([self.tagged()] if tagged else [])]
        return select(func.count()).select_from(self.source).where(*conditions)

    @abstractmethod
    def matches(self) -> Any:
        """The condition that the offer holds the words bound as ``match``."""

    def count(self, session: Session, query: Query, tag: str | None) -> int:
        statement = self.built("count", tag is not None)
        return session.scalar(statement, self.match_values(query) | {"tag": tag}) or 0

    @abstractmethod
    def match_values(self, query: Query) -> dict[str, Any]:
        """The bound values of ``matches()``."""


class Fts5Engine(Engine):
    """SQLite FTS5: tier by tier, each a column-filtered MATCH, until the page is full."""

    def __init__(self) -> None:
        super().__init__()
        fts = table("offers_fts", column("rowid", Integer))
        self.source, self.id = fts, fts.c.rowid
        # "+rowid" keeps the planner from handing an IN list to FTS5, which would run the
        # MATCH again for every id in it (seconds at 100,000 offers).
        self.filter_id = literal_column("+offers_fts.rowid", Integer)
        weights = ", ".join(str(weight) for weight in BM25_WEIGHTS)
        # bm25() is lower when better; a column filter limits it to the tier's fields. Ties
        # (rare: BM25 weighs the offer's length in) go by id.
        self.rank = [literal_column(f"bm25(offers_fts, {weights})"), self.id]

    @staticmethod
    def expression(query: Query, fields: tuple[str, ...] | None) -> str:
        """The FTS5 MATCH expression of the words, kept to ``fields``."""
        expression = fts5_query(query.words)
        return "{" + " ".join(fields) + "} : (" + expression + ")" if fields else expression

    def match(self, query, fields):
        return text("offers_fts MATCH :match").bindparams(
            bindparam("match", self.expression(query, fields), unique=True)
        )

    def matches(self):
        return text("offers_fts MATCH :match")

    def match_values(self, query):
        return {"match": self.expression(query, None)}

    def _build_exact(self, tagged: bool) -> Select:
        carrying = select(OfferTag.offer_id).where(
            OfferTag.key.in_(bindparam("keys", expanding=True))
        )
        statement = select(Offer.id).where(Offer.active.is_(True), Offer.id.in_(carrying))
        if tagged:
            statement = statement.where(
                Offer.id.in_(select(OfferTag.offer_id).where(OfferTag.key == bindparam("tag")))
            )
        return statement.order_by(Offer.position, Offer.id).limit(bindparam("limit"))

    def _window(self, tagged: bool, without_keys: bool, after: bool) -> list:
        conditions = [self.matches()]
        if tagged:
            conditions.append(self.tagged())
        if without_keys:
            carrying = select(OfferTag.offer_id).where(
                OfferTag.key.in_(bindparam("keys", expanding=True))
            )
            conditions.append(self.filter_id.not_in(carrying))
        if after:
            conditions.append(self.id > bindparam("after"))
        return conditions

    def _build_members(self, tagged: bool, without_keys: bool, after: bool) -> Select:
        # FTS5 walks its matches in id order for nothing, and seeks to an id range.
        return (
            select(self.id)
            .select_from(self.source)
            .where(*self._window(tagged, without_keys, after))
            .order_by(self.id)
            .limit(bindparam("window"))
        )

    def _build_best(self, tagged: bool, without_keys: bool, after: bool) -> Select:
        return (
            select(self.id)
            .select_from(self.source)
            .where(*self._window(tagged, without_keys, after), self.id <= bindparam("upto"))
            .order_by(*self.rank)
            .limit(bindparam("limit"))
        )

    def ranked(self, session, query, tag, limit, offset):
        # FTS5 cannot say per row which fields matched, but it streams a column-filtered
        # MATCH cheaply: tier by tier, until the page is full.
        total = self.count(session, query, tag)
        if total <= offset or not limit:
            return [], total
        want = min(offset + limit, total)  # no tier is asked for matches that do not exist
        keys = query.tag_keys
        ordered = self.exact(session, keys, tag, want)
        if not ordered:
            keys = []
        seen = set(ordered)
        from_tiers = 0  # ids taken from the (exhausted, nested) tiers so far
        for fields in (*TIERS, None):
            if len(ordered) >= want:
                break
            # Tiers are nested, so this one holds all that the earlier ones gave: ask for
            # as many more as are still wanted.
            asked = want - len(ordered) + from_tiers
            found = self.tier(session, query, tag, fields, keys, asked)
            fresh = [offer_id for offer_id in found if offer_id not in seen]
            fresh = fresh[: want - len(ordered)]
            ordered += fresh
            seen.update(fresh)
            from_tiers += len(fresh)
        return ordered[offset:want], total

    def exact(self, session: Session, keys: list[str], tag: str | None, limit: int) -> list[int]:
        """Active offers carrying a tag with one of ``keys`` (and ``tag``), in shelf order.

        Their tag holds the query's words, so they match it.
        """
        statement = self.built("exact", tag is not None)
        return list(session.scalars(statement, {"keys": keys, "tag": tag, "limit": limit}))

    def tier(
        self,
        session: Session,
        query: Query,
        tag: str | None,
        fields: tuple[str, ...] | None,
        exact_keys: list[str],
        limit: int,
    ) -> list[int]:
        """The best ``limit`` ids holding every word in ``fields`` (cumulative tiers).

        BM25 is worked out in windows of ``SCORED_PER_WINDOW`` matches in id order (see the
        module's docstring): a tier that small is ranked whole, a larger one window by
        window, each window after the one before. A tier's match implies the query's.
        """
        values = {
            "match": self.expression(query, fields),
            "tag": tag,
            "keys": exact_keys,
            "window": SCORED_PER_WINDOW,
        }
        shape = (tag is not None, bool(exact_keys))
        found: list[int] = []
        after = None
        while len(found) < limit:
            window = (*shape, after is not None)
            values["after"] = after
            members = list(session.scalars(self.built("members", *window), values))
            if not members:
                break
            values.update(upto=members[-1], limit=limit - len(found))
            found += session.scalars(self.built("best", *window), values)
            if len(members) < SCORED_PER_WINDOW:
                break
            after = members[-1]
        return found


class PostgresEngine(Engine):
    """PostgreSQL: the whole ranking in one statement, the count riding along.

    Testing a row's vector against a query is cheap here, so each match's tier is worked out
    in place; one scan instead of one per tier.
    """

    def __init__(self) -> None:
        super().__init__()
        index = table("offers_fts", column("offer_id", Integer), column("position", Integer))
        self.source, self.id = index, index.c.offer_id
        self.filter_id = index.c.offer_id
        self.vector = literal_column("offers_fts.vector")

    @staticmethod
    def tsquery_text(query: Query, fields: tuple[str, ...] | None) -> str:
        labels = "".join(PG_WEIGHTS[field] for field in fields) if fields else ""
        return tsquery(query.words, labels)

    @staticmethod
    def parsed(value: Any, once: bool = False) -> Any:
        """A tsquery text parsed. In a WHERE clause the planner sees through to_tsquery()
        to estimate the matches and pick the GIN index; elsewhere ``once`` makes it a
        subquery, computed once rather than for every row (the function is only STABLE)."""
        parsed = func.to_tsquery(literal_column("'simple'"), value)
        return select(parsed).scalar_subquery() if once else parsed

    def match(self, query, fields):
        text_query = bindparam(None, self.tsquery_text(query, fields), unique=True)
        return self.vector.op("@@")(self.parsed(text_query))

    def matches(self):
        return self.vector.op("@@")(self.parsed(bindparam("query")))

    def match_values(self, query):
        return {"query": self.tsquery_text(query, None)}

    def _build_page(self, tagged: bool) -> Select:
        exact = self.id.in_(
            select(OfferTag.offer_id).where(OfferTag.key.in_(bindparam("keys", expanding=True)))
        )
        queries = [self.parsed(bindparam(f"tier{number}"), once=True) for number in range(3)]
        tests = [self.vector.op("@@")(tier_query) for tier_query in queries]
        tier = case((exact, -1), *((test, number) for number, test in enumerate(tests)), else_=3)
        # Normalization 1 divides by 1 + log(length), as BM25 favours short offers too; the
        # weight letters in a tier's query keep the rank to the tier's fields.
        rank = case(
            (exact, 0.0),
            *(
                (test, func.ts_rank(self.vector, tier_query, 1))
                for test, tier_query in zip(tests, queries, strict=True)
            ),
            else_=func.ts_rank(self.vector, self.parsed(bindparam("query"), once=True), 1),
        )
        return (
            select(self.id, func.count().over())
            .select_from(self.source)
            .where(self.matches(), *([self.tagged()] if tagged else []))
            .order_by(tier, rank.desc(), self.source.c.position, self.id)
            .limit(bindparam("limit"))
            .offset(bindparam("offset"))
        )

    def ranked(self, session, query, tag, limit, offset):
        if offset > 2**62 or not limit:  # past any end, or only the count wanted
            return [], self.count(session, query, tag)
        values = self.match_values(query) | {
            "keys": query.tag_keys,
            "tag": tag,
            "limit": limit,
            "offset": offset,
        }
        for number, fields in enumerate(TIERS):
            values[f"tier{number}"] = self.tsquery_text(query, fields)
        rows = session.execute(self.built("page", tag is not None), values).all()
        if rows:
            return [row[0] for row in rows], rows[0][1]
        # Past the end, or nothing matched.
        return [], self.count(session, query, tag) if offset else 0


ENGINES: dict[str, Engine] = {"sqlite": Fts5Engine(), "postgresql": PostgresEngine()}


def engine_for(session: Session) -> Engine:
    """The engine of the database ``session`` is bound to."""
    dialect = session.get_bind().dialect.name
    try:
        return ENGINES[dialect]
    except KeyError:
        raise RuntimeError(f"search supports SQLite and PostgreSQL, not {dialect}") from None
