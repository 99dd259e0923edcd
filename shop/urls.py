"""``url_for`` for templates, each address built once per process.

A page links the same endpoints with the same values on every request (the stylesheet, an
offer, a tag), and Werkzeug builds each one again every time: the home page asked for about
sixty addresses, a tenth of its render. An address built without ``_external`` depends only on
the endpoint, its values, the URL map and the request's script root (the path the app is
mounted at), so it is kept under those: Flask has no cache of its own for this, and
``functools.lru_cache`` cannot take the script root from the request or skip the calls that
must not be kept.

Not kept: absolute addresses (``_external``, ``_scheme``: they follow the request's host),
anchors and methods (rare), blueprint-relative endpoints (``.name``), values that cannot be a
key, and anything in debug mode (a static file's hash follows its edits there).
"""

from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache
from flask import Flask, current_app, request, url_for

MAX_ADDRESSES = 4096  # search pages link tag filters of any query: the oldest go first

_KEY = "shop_addresses"


class _Addresses:
    def __init__(self) -> None:
        self.built: LRUCache[tuple[Any, ...], str] = LRUCache(MAX_ADDRESSES)
        self.lock = threading.Lock()  # cachetools' caches are not thread-safe


def cached_url_for(endpoint: str, **values: Any) -> str:
    """``url_for(endpoint, **values)``, built once per script root, endpoint and values."""
    if endpoint.startswith(".") or current_app.debug or any(k[0] == "_" for k in values):
        return url_for(endpoint, **values)
    try:
        key = (request.script_root, endpoint, *sorted(values.items()))
        hash(key)
    except TypeError:  # a list of values (a repeated query argument)
        return url_for(endpoint, **values)
    addresses: _Addresses = current_app.extensions[_KEY]
    with addresses.lock:
        address = addresses.built.get(key)
    if address is None:
        address = url_for(endpoint, **values)
        with addresses.lock:
            addresses.built[key] = address
    return address


def init_app(app: Flask) -> None:
    """Templates' ``url_for`` keeps what it built (per app: tests build many)."""
    app.extensions[_KEY] = _Addresses()
    app.jinja_env.globals["url_for"] = cached_url_for
