"""Catalogue queries, the catalogue's version number and the catalogue file loader.

The version number (``catalog_version``) goes up in the transaction of every ORM write to
offers or tags; each process's shelf of offers (``shop.catalog.shelf``) is drawn again when it
changes. A write in plain SQL text must raise it itself.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, select, update
from sqlalchemy.orm import Session, lazyload

from shop.catalog.models import CatalogVersion, Offer, OfferTag
from shop.db import write_transaction
from shop.extensions import db

DEFAULT_CATALOG = resources.files("shop.catalog").joinpath("offers.toml")

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_IMAGE_RE = re.compile(r"^img/[a-z0-9][a-z0-9-]*\.(?:svg|png|jpe?g|webp|avif)$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# field: (required, max length or None)
_TEXT_FIELDS: dict[str, int | None] = {
    "slug": 80,
    "category": 80,
    "title": 160,
    "description": 2000,
    "code_file": 80,
    "code_note": 160,
    "image": 160,
    "image_label": 80,
    "image_alt": 300,
}
_ALL_FIELDS = set(_TEXT_FIELDS) | {"tags", "price_cents", "currency", "active", "call_minutes"}
MAX_TAGS = 8
MAX_PRICE_CENTS = 100_000_000
# The scoping call an offer comes with: its length in minutes (an order's call is as long as
# its longest offer's).
CALL_MINUTES_DEFAULT, CALL_MINUTES_RANGE = 60, (15, 480)


class CatalogError(ValueError):
    """The catalogue file is malformed; the message names the line and the field."""


@dataclass(frozen=True)
class OfferData:
    """One offer as the catalogue file describes it, validated."""

    slug: str
    category: str
    title: str
    description: str
    code_file: str
    code_note: str
    image: str
    image_label: str
    image_alt: str
    tags: tuple[str, ...]
    price_cents: int
    currency: str
    active: bool
    call_minutes: int = CALL_MINUTES_DEFAULT


# ---------------------------------------------------------------- queries


def list_offers(tag: str | None = None) -> list[Offer]:
    """Active offers in shelf order, optionally only those with ``tag`` (any case)."""
    query = select(Offer).where(Offer.active.is_(True)).order_by(Offer.position, Offer.id)
    if tag is not None:
        query = query.join(OfferTag).where(OfferTag.key == tag.lower())
    return list(db.session.scalars(query))


def get_offer(slug: str, *, tags: bool = True) -> Offer | None:
    """The active offer with this slug, or None (also for text that cannot be a slug).

    ``tags=False`` leaves the tags to be loaded if used (the bag's changes never show them).
    """
    if len(slug) > 80 or not _SLUG_RE.match(slug):
        return None
    return db.session.scalar(_BY_SLUG if tags else _BY_SLUG_WITHOUT_TAGS, {"slug": slug})


# Built once: constructing and hashing the statement on every call costs more than the
# lookup (an offer is read on every add to the bag).
_BY_SLUG = select(Offer).where(Offer.slug == bindparam("slug"), Offer.active.is_(True))
_BY_SLUG_WITHOUT_TAGS = _BY_SLUG.options(lazyload(Offer.tags))


# ---------------------------------------------------------------- version

_VERSION = select(CatalogVersion.version).where(CatalogVersion.id == 1)
_RAISED = "shop_catalog_version_raised"  # Session.info key: raised in this transaction
_committed_by_this_process = 0  # catalogue changes committed by this process


def stored_version() -> int:
    """The catalogue's version number in the database (0 where the row is missing)."""
    return db.session.execute(_VERSION).scalar() or 0


def changes_committed_by_this_process() -> int:
    """How many transactions of this process changed the catalogue: a change made here is
    seen at once, without waiting for the next read of the stored version."""
    return _committed_by_this_process


def _raise_version(session: Session) -> None:
    if not session.info.get(_RAISED):
        session.info[_RAISED] = True
        session.execute(update(CatalogVersion).values(version=CatalogVersion.version + 1))


# Every ORM write of an offer or a tag (the loader, a script, a test), whether through
# changed objects or an ORM UPDATE/DELETE/INSERT statement, raises the number in its own
# transaction, so no such path can change the shelf and leave cached pages unaware.
# (Plain SQL text is not seen; the module's docstring says so.)
@event.listens_for(Session, "before_flush")
def _on_flush(session: Session, _context: Any, _instances: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, Offer | OfferTag) for obj in touched):
        _raise_version(session)


@event.listens_for(Session, "do_orm_execute")
def _on_statement(state: Any) -> None:
    if (
        (state.is_update or state.is_delete or state.is_insert)
        and state.bind_mapper is not None
        and state.bind_mapper.class_ in (Offer, OfferTag)
    ):
        _raise_version(state.session)


@event.listens_for(Session, "after_commit")
def _count_committed_change(session: Session) -> None:
    global _committed_by_this_process
    if session.info.pop(_RAISED, False):
        _committed_by_this_process += 1


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_change(session: Session) -> None:
    session.info.pop(_RAISED, None)


# ---------------------------------------------------------------- loading


def _table_lines(text: str) -> list[int]:
    """Line numbers (1-based) of each ``[[offers]]`` header, in order."""
    return [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if re.match(r"^\s*\[\[\s*offers\s*\]\]", line)
    ]


def _field_line(text: str, start: int, field: str) -> int:
    """The line of ``field`` in the offer table that starts at line ``start``."""
    lines = text.splitlines()
    pattern = re.compile(rf"^\s*(?:{re.escape(field)}|\"{re.escape(field)}\")\s*=")
    for number in range(start, len(lines)):
        line = lines[number]
        if re.match(r"^\s*\[", line):
            break
        if pattern.match(line):
            return number + 1
    return start


def parse_catalog(text: str, source: str = "catalogue") -> list[OfferData]:
    """Parse and validate a catalogue file; raise CatalogError naming the line and field."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{source}: not valid TOML: {error}") from None

    unknown_top = set(document) - {"offers"}
    if unknown_top:
        raise CatalogError(f"{source}: unknown top-level key {sorted(unknown_top)[0]!r}")
    entries = document.get("offers")
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{source}: expected at least one [[offers]] table")

    starts = _table_lines(text)
    offers: list[OfferData] = []
    seen_slugs: dict[str, int] = {}
    for index, entry in enumerate(entries):
        start = starts[index] if index < len(starts) else 1

        def fail(field: str, message: str, _start: int = start, _index: int = index) -> None:
            line = _field_line(text, _start, field)
            raise CatalogError(f"{source}:{line}: offer {_index + 1}, field {field!r}: {message}")

        if not isinstance(entry, dict):
            raise CatalogError(f"{source}:{start}: offer {index + 1} is not a table")
        for key in entry:
            if key not in _ALL_FIELDS:
                fail(key, "unknown field")
        values: dict[str, Any] = {}
        for field, limit in _TEXT_FIELDS.items():
            value = entry.get(field)
            if value is None:
                fail(field, "is missing")
            if not isinstance(value, str) or not value.strip():
                fail(field, "must be a non-empty string")
            if limit and len(value) > limit:
                fail(field, f"is longer than {limit} characters")
            values[field] = value.strip()
        if not _SLUG_RE.match(values["slug"]):
            fail("slug", "use lower-case letters, digits and single hyphens")
        if values["slug"] in seen_slugs:
            fail(
                "slug", f"{values['slug']!r} is already used by offer {seen_slugs[values['slug']]}"
            )
        seen_slugs[values["slug"]] = index + 1
        if not _IMAGE_RE.match(values["image"]):
            fail("image", "must name a picture under img/, such as img/edge-block.svg")

        tags = entry.get("tags")
        if not isinstance(tags, list) or not tags:
            fail("tags", "must be a list of at least one tag")
        if len(tags) > MAX_TAGS:
            fail("tags", f"at most {MAX_TAGS} tags")
        clean_tags: list[str] = []
        for tag in tags:
            if not isinstance(tag, str) or not tag.strip() or len(tag) > 40:
                fail("tags", "each tag must be a non-empty string of at most 40 characters")
            if tag.strip().lower() in {t.lower() for t in clean_tags}:
                fail("tags", f"tag {tag!r} is listed twice")
            clean_tags.append(tag.strip())

        price = entry.get("price_cents")
        if price is None:
            fail("price_cents", "is missing")
        if isinstance(price, bool) or not isinstance(price, int):
            fail("price_cents", "must be a whole number of cents")
        if not 0 <= price <= MAX_PRICE_CENTS:
            fail("price_cents", f"must be between 0 and {MAX_PRICE_CENTS}")
        currency = entry.get("currency", "USD")
        if not isinstance(currency, str) or not _CURRENCY_RE.match(currency):
            fail("currency", "must be a three-letter ISO 4217 code such as USD")
        active = entry.get("active", True)
        if not isinstance(active, bool):
            fail("active", "must be true or false")
        call_minutes = entry.get("call_minutes", CALL_MINUTES_DEFAULT)
        low, high = CALL_MINUTES_RANGE
        if (
            isinstance(call_minutes, bool)
            or not isinstance(call_minutes, int)
            or not low <= call_minutes <= high
            or call_minutes % 15
        ):
            fail("call_minutes", f"must be whole quarter hours from {low} to {high} minutes")

        offers.append(
            OfferData(
                tags=tuple(clean_tags),
                price_cents=price,
                currency=currency,
                active=active,
                call_minutes=call_minutes,
                **values,
            )
        )
    return offers


def load_catalog(path: Path | None = None) -> tuple[int, int]:
    """Upsert the offers of a catalogue file by slug; returns (created, updated).

    The whole file is validated before anything is written, and the writes happen in one
    transaction, so a bad file leaves the database as it was.
    """
    if path is None:
        text, source = DEFAULT_CATALOG.read_text(encoding="utf-8"), "offers.toml"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CatalogError(f"{path}: not UTF-8 text") from None
        source = str(path)
    entries = parse_catalog(text, source)

    created = updated = 0
    with write_transaction():
        existing = {
            offer.slug: offer
            for offer in db.session.scalars(
                select(Offer).where(Offer.slug.in_([e.slug for e in entries]))
            )
        }
        for position, entry in enumerate(entries):
            offer = existing.get(entry.slug)
            if offer is None:
                offer = Offer(slug=entry.slug)
                db.session.add(offer)
                created += 1
            else:
                updated += 1
            offer.position = position
            for field in (
                "category",
                "title",
                "description",
                "code_file",
                "code_note",
                "image",
                "image_label",
                "image_alt",
                "price_cents",
                "currency",
                "active",
                "call_minutes",
            ):
                setattr(offer, field, getattr(entry, field))
            if offer.tag_names != list(entry.tags):
                offer.tags.clear()
                db.session.flush()
                offer.tags.extend(
                    OfferTag(name=name, key=name.lower(), position=i)
                    for i, name in enumerate(entry.tags)
                )
    return created, updated
