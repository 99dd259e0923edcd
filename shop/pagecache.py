"""Rendered catalogue pages, kept by each app process and filled in per request.

The home page, the offer list, an offer's page and the search pages are drawn from the
catalogue, which changes only when someone loads a catalogue file. Rendering one costs
several milliseconds of Jinja and ORM work (the home page calls ``url_for`` about sixty
times), many times what serving it costs. Such a page is rendered once per catalogue version
and kept, under a key of everything else it depends on:

* the request's scheme, host, path and query, and whether htmx asks for a fragment;
* what the views register with :func:`vary_on`: the header counters and the wishlisted
  offers of the visitor (bag), whether an administrator is signed in (accounts). A visitor
  with nothing in the bag or wishlist shares the page of every other such visitor.

What must differ on every answer is never stored. While a page is rendered for the cache,
``csrf_token()`` and ``form_token()`` write placeholders; a hit puts this visitor's CSRF
token and a fresh form token in each. A page with a message to show once (a flash, the
notice after an add) is rendered as usual and not kept.

Each process checks the catalogue's stored version at most once per
``PAGE_CACHE_CHECK_SECONDS`` (a change committed by the process itself is seen at once), so
a catalogue loaded on one server reaches the others' pages within that time.

Flask-Caching was considered: its ``cached`` decorator stores whole answers, with no way
to leave the per-visitor tokens out, and its backends would add a service or a pickle per
hit to what is a dictionary lookup here.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from cachetools import LRUCache
from flask import Flask, Response, current_app, g, make_response, request, session
from flask_wtf.csrf import generate_csrf

from shop.catalog import services as catalog
from shop.extensions import htmx

# Placeholders: random per process, so no text of a page (a search query shown back) can
# be taken for one.
_SLOT = secrets.token_hex(8)
CSRF_SLOT = f"csrf-slot-{_SLOT}"
FORM_SLOT = f"form-slot-{_SLOT}"
_SLOT_RE = re.compile(f"({re.escape(CSRF_SLOT)}|{re.escape(FORM_SLOT)})")
_STORE_KEY = "shop_page_cache"
_RENDERING = "page_cache_rendering"
MAX_PATH = 1000  # longer addresses (long search queries) are rendered, not kept

BYPASS = object()
"""What a :func:`vary_on` function returns when this request's page must not be kept."""

_varies: list[Callable[[], Hashable]] = []


def vary_on(function: Callable[[], Hashable]) -> Callable[[], Hashable]:
    """Register something cached pages depend on besides the address and the catalogue:
    ``function()`` gives a hashable value for the request (part of the key), or ``BYPASS``."""
    if function not in _varies:
        _varies.append(function)
    return function


def csrf_token() -> str:
    """The page's CSRF token (templates' ``csrf_token()``), or its placeholder."""
    return CSRF_SLOT if g.get(_RENDERING) else generate_csrf()


def form_token() -> str:
    """A token that makes one form submission count once, or its placeholder."""
    return FORM_SLOT if g.get(_RENDERING) else secrets.token_urlsafe(16)


@dataclass(frozen=True)
class Page:
    """A kept answer: its text cut at the placeholders, its status and headers."""

    parts: tuple[str, ...]  # text, slot, text, slot, ..., text
    status: int
    headers: tuple[tuple[str, str], ...]
    size: int

    def fill(self) -> str:
        csrf = None
        out = []
        for index, part in enumerate(self.parts):
            if index % 2 == 0:
                out.append(part)
            elif part == FORM_SLOT:
                out.append(secrets.token_urlsafe(16))
            else:
                csrf = csrf or generate_csrf()
                out.append(csrf)
        return "".join(out)


class PageStore:
    """One process's pages, dropped when the catalogue's version changes."""

    def __init__(self, max_bytes: int, check_seconds: float):
        self.pages: LRUCache[Hashable, Page] = LRUCache(max_bytes, getsizeof=lambda p: p.size)
        self.check_seconds = check_seconds
        self.version: tuple[int, int] | None = None
        self.checked_at = 0.0
        self.lock = threading.Lock()  # for threaded servers; gunicorn's sync workers have one

    def current(self) -> tuple[int, int]:
        """The catalogue version the kept pages belong to, read again when it is due."""
        here = catalog.changes_committed_here()
        moment = time.monotonic()
        if (
            self.version is None
            or self.version[1] != here
            or moment - self.checked_at >= self.check_seconds
        ):
            version = (catalog.stored_version(), here)
            with self.lock:
                if version != self.version:
                    self.pages.clear()
                    self.version = version
                self.checked_at = moment
        assert self.version is not None
        return self.version

    def get(self, key: Hashable) -> Page | None:
        with self.lock:
            return self.pages.get(key)

    def put(self, key: Hashable, page: Page) -> None:
        with self.lock:
            if page.size <= self.pages.maxsize:
                self.pages[key] = page


def init_app(app: Flask) -> None:
    """Give the app its page store and the templates their token functions."""
    app.extensions[_STORE_KEY] = PageStore(
        app.config["PAGE_CACHE_BYTES"], app.config["PAGE_CACHE_CHECK_SECONDS"]
    )
    app.jinja_env.globals.update(csrf_token=csrf_token, form_token=form_token)
    # Flask-WTF also hands templates its csrf_token through a context processor; this one
    # comes after it, so it wins.
    app.context_processor(lambda: {"csrf_token": csrf_token})


def _key() -> Hashable | None:
    if (
        not current_app.config["PAGE_CACHE"]
        or current_app.debug
        or request.method not in ("GET", "HEAD")
        or len(request.full_path) > MAX_PATH
        or g.get("database_unavailable")
        # The visitor's session could not be read: what the page would show them is unknown.
        or getattr(session, "unavailable", False)
    ):
        return None
    varies = []
    for function in _varies:
        value = function()
        if value is BYPASS:
            return None
        varies.append(value)
    return (
        request.endpoint,
        request.host_url,
        request.full_path,
        bool(htmx) and not htmx.boosted,
        tuple(varies),
    )


def cached(view: Callable[..., Any]) -> Callable[..., Any]:
    """Serve a GET view's 200 answers from the page store (see the module's docstring)."""

    @wraps(view)
    def serve(*args: Any, **kwargs: Any) -> Any:
        key = _key()
        if key is None:
            return view(*args, **kwargs)
        store: PageStore = current_app.extensions[_STORE_KEY]
        # The version in the key too: a page rendered while another thread saw the
        # catalogue change is filed under the version it was drawn from.
        key = (store.current(), key)
        page = store.get(key)
        if page is None:
            g.setdefault(_RENDERING, True)
            try:
                response = make_response(view(*args, **kwargs))
            finally:
                g.pop(_RENDERING, None)
            # A token made for real during the render (a template calling Flask-WTF's
            # generate_csrf itself) would be handed to every visitor: such a page is not kept.
            leaked = current_app.config["WTF_CSRF_FIELD_NAME"] in g
            parts = tuple(_SLOT_RE.split(response.get_data(as_text=True)))
            if response.status_code != 200 or leaked:
                # Not kept, but its placeholders still need this request's tokens.
                response.set_data(Page(parts, response.status_code, (), 0).fill())
                return response
            page = Page(
                parts,
                response.status_code,
                tuple(
                    (name, value)
                    for name, value in response.headers.items()
                    if name not in ("Content-Length", "Set-Cookie")
                ),
                len(response.get_data()),
            )
            store.put(key, page)
        return Response(page.fill(), page.status, list(page.headers))

    return serve
