"""The shop's addresses: ``absolute_url``, the one builder of absolute ones, and
``url_for`` for templates, each address built once per process.

A page links the same endpoints with the same values on every request (the stylesheet, an
offer, a tag), and Werkzeug builds each one again every time: the home page asked for about
sixty addresses, a tenth of its render. An address built without ``_external`` depends only on
the endpoint, its values, the URL map and the request's script root (the path the app is
mounted at), so it is kept under those: Flask has no cache of its own for this, and
``functools.lru_cache`` cannot take the script root from the request or skip the calls that
must not be kept.

Not kept: absolute addresses (``_external``, ``_scheme``: they follow the request's host),
anchors and methods (any ``_`` argument), blueprint-relative endpoints (``.name``), values
that cannot be a key, and nothing at all in debug mode (a static file's hash follows its
edits there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, request, url_for

MAX_ADDRESSES = 4096  # search pages link tag filters of any query: beyond this, start afresh


def cached_url_for(app: Flask) -> Callable[..., str]:
    """The app's templates' ``url_for``: ``url_for(endpoint, **values)``, kept."""
    if app.debug:
        return url_for
    # One dict per app (tests build many). A single get or set of a dict is atomic in
    # CPython, so threads need no lock; clearing when full keeps it bounded.
    built: dict[tuple[Any, ...], str] = {}

    def cached(endpoint: str, **values: Any) -> str:
        for name in values:
            if name[0] == "_":
                return url_for(endpoint, **values)
        key = (request.script_root, endpoint, *values.items())
        try:
            address = built.get(key)
        except TypeError:  # a list of values (a repeated query argument)
            return url_for(endpoint, **values)
        if address is None:
            if endpoint[0] == ".":
                return url_for(endpoint, **values)
            address = url_for(endpoint, **values)
            if len(built) >= MAX_ADDRESSES:
                built.clear()
            built[key] = address
        return address

    return cached


def absolute_url(endpoint: str, **values: Any) -> str:
    """The absolute address of ``endpoint``: the one place the shop builds one (mail, Stripe's
    return addresses, canonical and Open Graph links, the sitemap).

    With ``PUBLIC_URL`` set it is that origin, whatever the request's ``Host`` says. Without
    it the request's own host is used, which ``shop.hosts`` has checked against the allowed
    hosts before any view ran, so a forged ``Host`` never gets this far.
    """
    base = current_app.config.get("PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def init_app(app: Flask) -> None:
    """Templates' ``url_for`` keeps what it built."""
    app.jinja_env.globals["url_for"] = cached_url_for(app)
