"""The shelf: the active offers as each app process keeps them, and their cards' fixed part.

The catalogue changes only when someone loads a catalogue file, yet every catalogue page
read it again (two statements) and drew each card again (about forty Jinja calls). Each
process keeps a :class:`Shelf` per catalogue version instead: the offers as plain frozen
values and, drawn on first use, the visitor-neutral part of each offer's card (picture,
texts, tags, price). The forms under a card (Add, Wishlist) carry the visitor's tokens and
marks and are drawn on every request; nothing else of a page is kept.

What is kept can hold nothing of a visitor by construction: the cards are drawn in a Jinja
environment of their own (:func:`neutral_environment`) that knows addresses and money and
nothing else, and leaves an unknown name an error. A card template that reached for the
session, ``current_user``, ``g``, the request or a token would fail to draw, in every test.

The shelf holds every active offer, as the search results read them too (by id): made for
a studio's catalogue, from a few offers to some thousands, not for a warehouse's.

The version number (``catalog_version``, raised in every ORM transaction that changes an
offer or a tag) is read at most once per ``CATALOG_CHECK_SECONDS`` per process, and at once
after a change committed by the process itself: a catalogue loaded on one server reaches
the others' pages within that time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, fields
from typing import Any

from flask import Flask, current_app, request
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shop.catalog import services
from shop.catalog.models import Offer
from shop.web import format_money

_KEY = "shop_shelf"
CARD_TEMPLATE = "_macros/card.html"


@dataclass(frozen=True)
class ShelfOffer:
    """An active offer as pages show it (the ORM row's values, detached)."""

    id: int
    slug: str
    category: str
    title: str
    description: str
    code_file: str
    code_note: str
    image: str
    image_label: str
    image_alt: str
    price_cents: int
    currency: str
    tag_names: tuple[str, ...]


@dataclass
class Shelf:
    """The active offers of one catalogue version, in shelf order."""

    version: int
    offers: tuple[ShelfOffer, ...]
    by_slug: dict[str, ShelfOffer]
    by_id: dict[int, ShelfOffer]
    tags: tuple[str, ...]  # every tag, in shelf order, each once
    cards: dict[tuple[str, str, str], Markup] = field(default_factory=dict)

    def with_tag(self, tag: str) -> list[ShelfOffer]:
        key = tag.lower()
        return [o for o in self.offers if any(t.lower() == key for t in o.tag_names)]

    def find_tag(self, name: str) -> str | None:
        """The tag's name as the catalogue spells it (any case), or None."""
        key = name.lower()
        return next((tag for tag in self.tags if tag.lower() == key), None)


_OFFERS = (
    select(Offer)
    .where(Offer.active.is_(True))
    .order_by(Offer.position, Offer.id)
    .options(selectinload(Offer.tags))
)


def _load(version: int) -> Shelf:
    from shop.extensions import db

    columns = [f.name for f in fields(ShelfOffer) if f.name != "tag_names"]
    offers = tuple(
        ShelfOffer(**{name: getattr(row, name) for name in columns}, tag_names=tuple(row.tag_names))
        for row in db.session.scalars(_OFFERS)
    )
    seen: dict[str, str] = {}
    for offer in offers:
        for tag in offer.tag_names:
            seen.setdefault(tag.lower(), tag)
    return Shelf(
        version,
        offers,
        {o.slug: o for o in offers},
        {o.id: o for o in offers},
        tuple(seen.values()),
    )


class _Store:
    def __init__(self, app: Flask) -> None:
        self.check_seconds = float(app.config["CATALOG_CHECK_SECONDS"])
        self.shelf: Shelf | None = None
        self.local_changes = -1
        self.checked_at = 0.0
        self.lock = threading.Lock()  # threaded servers; gunicorn's sync workers have one
        self.env = neutral_environment(app)

    def current(self) -> Shelf:
        committed = services.changes_committed_by_this_process()
        moment = time.monotonic()
        shelf = self.shelf
        if (
            shelf is None
            or committed != self.local_changes
            or moment - self.checked_at >= self.check_seconds
        ):
            version = services.stored_version()
            if shelf is None or version != shelf.version or committed != self.local_changes:
                shelf = _load(version)
            with self.lock:
                self.shelf, self.local_changes, self.checked_at = shelf, committed, moment
        return shelf


def neutral_environment(app: Flask) -> Environment:
    """A Jinja environment for what every visitor sees alike: the app's templates, addresses
    (``url_for``, never absolute) and the ``money`` filter; any other name is an error."""
    env = Environment(
        loader=app.jinja_env.loader,
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=app.debug,
    )
    env.filters["money"] = format_money
    env.globals["url_for"] = app.jinja_env.globals["url_for"]  # shop/urls.py: addresses built once
    return env


def neutral_globals(app: Flask, **values: Any) -> None:
    """Add constants every visitor sees alike to the neutral environment (a limit)."""
    app.extensions[_KEY].env.globals.update(values)


def neutral_module(template: str) -> Any:
    """A template's macros, drawn in the neutral environment."""
    return current_app.extensions[_KEY].env.get_template(template).module


def current() -> Shelf:
    """This process's shelf, read again when the catalogue's version changed."""
    return current_app.extensions[_KEY].current()


def card(offer: Any, heading: str = "h3") -> Markup:
    """The fixed part of an offer's card, up to its price (``_macros/card.html``): kept per
    catalogue version for a shelf offer, drawn each time for another (a search result
    with its matches marked)."""
    store: _Store = current_app.extensions[_KEY]
    if not isinstance(offer, ShelfOffer):
        # A macro of an autoescaping environment returns Markup.
        return current_app.jinja_env.get_template(CARD_TEMPLATE).module.card(offer, heading)
    shelf = store.current()
    key = (offer.slug, heading, request.script_root)
    drawn = shelf.cards.get(key)
    if drawn is None or shelf.by_slug.get(offer.slug) is not offer:
        drawn = store.env.get_template(CARD_TEMPLATE).module.card(offer, heading)
        if shelf.by_slug.get(offer.slug) is offer:
            shelf.cards[key] = drawn
    return drawn


def init_app(app: Flask) -> None:
    """Give the app its shelf and the templates ``card``."""
    app.extensions[_KEY] = _Store(app)  # after shop.urls.init_app
    app.jinja_env.globals["card"] = card
