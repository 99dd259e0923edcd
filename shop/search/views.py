"""The search pages: results at /search, the header box's suggestions at /search/suggest."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, abort, redirect, request, url_for
from jinja2_fragments.flask import render_block
from markupsafe import Markup, escape

from shop.catalog import shelf
from shop.catalog.shelf import ShelfOffer
from shop.search import services
from shop.search.query import MAX_QUERY_LENGTH, Query, matches
from shop.text import clean_text
from shop.urls import absolute_url
from shop.web import render_page, wants_fragment

bp = Blueprint("search", __name__)

PAGE_SIZE = 24
SUGGESTIONS = 6
TAG_FACETS = 12
_PAGE_RE = re.compile(r"[0-9]+")
# Highest page number worth computing an offset for; later pages are past the end anyway.
_LAST_PAGE = 10**9


def highlight(value: str, query: Query) -> Markup:
    """``value`` escaped, with each word that the query matches wrapped in ``<mark>``: the
    one way results mark their words (the cards' fields and the suggestions alike)."""
    parts: list[Markup] = []
    last = 0
    for start, end in matches(value, query):
        parts.append(escape(value[last:start]))
        parts.append(Markup("<mark>%s</mark>") % value[start:end])
        last = end
    parts.append(escape(value[last:]))
    return Markup("").join(parts)


class MarkedText(str):
    """A plain string (for URLs and comparisons) that a template shows with its matches marked."""

    def __new__(cls, value: str, marked: Markup) -> MarkedText:
        text = super().__new__(cls, value)
        text.marked = marked
        return text

    def __html__(self) -> Markup:
        return self.marked


class HighlightedOffer:
    """An offer whose shown text marks the query's words, for the shared card macro.

    The marked fields are Markup (escaped, with ``<mark>`` around matches) and the tag names
    MarkedText (links still get the plain name); the slug, image, price and the rest are the
    offer's own values.
    """

    FIELDS = ("title", "category", "description", "code_file", "code_note")

    def __init__(self, offer: ShelfOffer, query: Query) -> None:
        self._offer = offer
        self.marked: dict[str, Any] = {
            name: highlight(getattr(offer, name), query) for name in self.FIELDS
        }
        self.marked["tag_names"] = [
            MarkedText(name, highlight(name, query)) for name in offer.tag_names
        ]

    def __getattr__(self, name: str) -> Any:
        marked = self.__dict__.get("marked", {})
        if name in marked:
            return marked[name]
        return getattr(self.__dict__["_offer"], name)


def _page(raw: str | None) -> int:
    """The page number from ``?page=``: 1 when absent; 400 when it is not a whole number."""
    if raw is None or raw == "":
        return 1
    digits = raw.lstrip("0") if _PAGE_RE.fullmatch(raw) else ""
    if not digits:
        abort(400, description="The page number must be a whole number from 1 up: 1, 2, 3…")
    # Past the last page is a normal (empty) page; no need to count that far.
    return int(digits) if len(digits) < len(str(_LAST_PAGE)) else _LAST_PAGE


def _search_args(query: str, tag: str | None, page: int | None = None) -> dict[str, Any]:
    """The query string of a results page; empty values left out."""
    args: dict[str, Any] = {}
    if query:
        args["q"] = query
    if tag:
        args["tag"] = tag
    if page and page > 1:
        args["page"] = page
    return args


@bp.get("/search")
def results() -> Response:
    """Every match, ranked, 24 a page; htmx gets the next page's cards to append."""
    page = _page(request.args.get("page"))
    query = clean_text(request.args.get("q"), MAX_QUERY_LENGTH)
    tag = None
    raw_tag = clean_text(request.args.get("tag"), 40)
    if raw_tag:
        # An unknown tag is no error here: it filters everything out, and the page says so.
        tag = shelf.current().find_tag(raw_tag) or raw_tag
    found = services.search(query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, tag=tag)
    pages = max(1, -(-found.total // PAGE_SIZE))
    context = {
        "query": query,
        "search_query": query,
        "tag": tag,
        "page": page,
        "pages": pages,
        "results": found,
        "offers": [HighlightedOffer(offer, found.query) for offer in found.offers],
        "first": found.offset + 1,
        "last": found.offset + len(found.offers),
        "search_args": _search_args,
        "fragment": wants_fragment(),
    }
    if wants_fragment():
        return render_page("search/results.html", ["result_items", "live"], **context)
    context.update(
        canonical=absolute_url("search.results", **_search_args(query, tag, page)),
        facets=services.tag_counts(query, TAG_FACETS) if found.total else [],
        all_tags=[] if found.total else shelf.current().tags,
    )
    return render_page("search/results.html", [], **context)


@bp.get("/search/suggest")
def suggest() -> Response:
    """The header box's list: at most six matches and the number of all of them."""
    query = clean_text(request.args.get("q"), MAX_QUERY_LENGTH)
    if not wants_fragment():
        # Someone opened the list's address: the results page is what they want.
        response = redirect(url_for("search.results", **_search_args(query, None)), 303)
        response.vary.add("HX-Request")
        return response
    found = services.search(query, limit=SUGGESTIONS) if query else None
    body = render_block("search/suggest.html", "popup", query=query, results=found)
    response = Response(body)
    response.vary.add("HX-Request")
    return response


@bp.app_template_filter("highlight")
def highlight_filter(value: str, query: Query) -> Markup:
    """``{{ text | highlight(results.query) }}``: escaped text with the matches marked."""
    return highlight(value, query)
