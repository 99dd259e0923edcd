"""Helpers that views share: fragment-or-page rendering, clean query values, money."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Response, make_response, redirect, render_template
from jinja2_fragments.flask import render_blocks
from werkzeug.routing import IntegerConverter

from shop.domain import ErrorKind
from shop.extensions import htmx, limiter


class BoundedInt(IntegerConverter):
    """``<int:...>`` in every route: a whole number that fits the database's 64-bit integer.

    Werkzeug's converter takes any length of digits, and 2**63 reaches the database as an
    OverflowError (a 500); a larger number is no row of ours, so it is a 404 like any other.
    """

    def __init__(self, map, *args, **kwargs):  # noqa: A002 (Werkzeug's parameter name)
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


# The HTTP status of each kind of domain error (shop/bag, shop/checkout services).
ERROR_STATUS = {ErrorKind.MISSING: 404, ErrorKind.INVALID: 400, ErrorKind.CONFLICT: 409}


def wants_fragment() -> bool:
    """Whether this request is an htmx swap (not a boosted navigation) and wants a fragment."""
    return bool(htmx) and not htmx.boosted


def render_page(template: str, blocks: list[str], status: int = 200, **context: Any) -> Response:
    """Render the named blocks for an htmx swap, or the whole page otherwise.

    The answer varies with HX-Request, so caches keep the two apart.
    """
    if wants_fragment():
        body = render_blocks(template, blocks, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def retry_in_words(seconds: int, what: str = "attempts") -> str:
    """The sentence a rate-limited visitor reads: "… Try again in 40 seconds."."""
    if seconds < 90:
        wait = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        minutes = math.ceil(seconds / 60)
        wait = f"{minutes} minutes" if minutes < 90 else f"{math.ceil(minutes / 60)} hours"
    return f"Too many {what} in a short time. Try again in {wait}."


def limit_retry_text() -> str:
    """When the visitor whom Flask-Limiter just refused may try again, in words."""
    limit = limiter.current_limit
    seconds = max(1, math.ceil(limit.reset_at - time.time())) if limit else 60
    return retry_in_words(seconds)


def format_money(cents: int, currency: str = "USD") -> str:
    """Whole amounts without decimals ("$4,500"), others with them ("$12.50")."""
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency)
    units, rest = divmod(cents, 100)
    amount = f"{units:,}" if rest == 0 else f"{units:,}.{rest:02d}"
    return f"{symbol}{amount}" if symbol else f"{amount} {currency}"


def safe_next(value: str | None, default: str) -> str:
    """A local path to go back to; anything else (other hosts, schemes) gives ``default``."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and len(value) <= 500
        and all(31 < ord(char) < 127 for char in value)
    ):
        return value
    return default


def go_to(target: str) -> Response:
    """Send the browser to ``target`` after a POST: 303, or for htmx (which would follow a
    303 inside the page) a 204 with HX-Redirect, so the browser itself goes there."""
    if htmx:
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
    else:
        response = redirect(target, 303)
    response.vary.add("HX-Request")
    return response
