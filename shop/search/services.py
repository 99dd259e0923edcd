"""Full-text search of the offers: one service over two engines (``shop.search.engines``:
SQLite FTS5 or PostgreSQL, chosen by the database), the query parsed the same way for both
(``shop.search.query``). The index is built by migration 0002 and kept in sync by the
database (triggers; a generated column on PostgreSQL). Results are data: the offers come from
the shelf, and marking the query's words in shown text is the views' job.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from shop.catalog import shelf
from shop.catalog.models import Offer, OfferTag
from shop.catalog.shelf import ShelfOffer
from shop.extensions import db
from shop.search.engines import engine_for
from shop.search.query import Query, parse_query

MAX_LIMIT = 100


@dataclass(frozen=True)
class SearchResults:
    """One page of results: the offers in rank order and the number of all matches."""

    query: Query
    offers: list[ShelfOffer]
    total: int
    limit: int
    offset: int
    tag: str | None = None


def _load(ids: list[int]) -> list[ShelfOffer]:
    """The offers with these ids, in this order, from the shelf (every active offer, kept
    per catalogue version: no statement)."""
    if not ids:
        return []
    offers = shelf.current().by_id
    return [offers[offer_id] for offer_id in ids if offer_id in offers]


def _in_shelf_order(tag: str | None, limit: int, offset: int) -> tuple[list[int], int]:
    """Every active offer (carrying ``tag``) in shelf order: a page of ids, and their number."""
    listed = select(Offer.id).where(Offer.active.is_(True))
    if tag is not None:
        listed = listed.where(Offer.id.in_(select(OfferTag.offer_id).where(OfferTag.key == tag)))
    total = db.session.scalar(select(func.count()).select_from(listed.subquery())) or 0
    if total <= offset or not limit:
        return [], total
    ordered = listed.order_by(Offer.position, Offer.id).limit(limit).offset(offset)
    return list(db.session.scalars(ordered)), total


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
    key = tag.lower() if tag is not None else None
    if parsed.text and not parsed.words:
        return SearchResults(parsed, [], 0, limit, offset, tag)
    if parsed.words:
        # Counts first: no offset past the end.
        ids, total = engine_for(db.session).ranked(db.session, parsed, key, limit, offset)
    else:
        ids, total = _in_shelf_order(key, limit, offset)
    return SearchResults(parsed, _load(ids), total, limit, offset, tag)


def tag_counts(query: str | None, limit: int = 12) -> list[tuple[str, int]]:
    """The tags of the offers that match ``query``, most frequent first, with their counts."""
    parsed = parse_query(query)
    if parsed.text and not parsed.words:
        return []
    if parsed.words:
        matching = engine_for(db.session).ids(parsed)
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
