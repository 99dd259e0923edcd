"""An offer's Add and Wishlist forms, drawn once per process and filled in per answer.

Every card and offer page carries both forms, and drawing them is most of what is left of a
catalogue page's render (about thirty Jinja expressions each, for four cards). Only four
values differ between answers: the CSRF token, the one-time form token, the address to come
back to and whether the offer is in the wishlist. So each form is drawn once per offer,
variant and wishlist mark, in the shelf's neutral environment (shop/catalog/shelf.py: it
knows nothing of a visitor), with a random slot in place of each of the other three values,
and cut at the slots; an answer joins the pieces with its own values, escaped.

Jinja has no partial evaluation, and a template that takes the four values on each call is
what this replaces; hence the slots. The macros stay the one description of the forms: the
out-of-band copies (``/bag/counters?forms=``, the answer to an add) call them directly.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask import Flask, current_app, request
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from shop.catalog import shelf

_KEY = "shop_offer_forms"
_SLOT = secrets.token_hex(8)  # per process: no text of a page can be taken for a slot
CSRF, TOKEN, NEXT = (f"slot{name}{_SLOT}" for name in ("csrf", "token", "next"))
_SLOTS = re.compile(f"({CSRF}|{TOKEN}|{NEXT})")


def _cut(html: str) -> tuple[str, ...]:
    return tuple(_SLOTS.split(str(html)))


def _draw(offer: Any, saved: bool, variant: str) -> tuple[str, ...]:
    module = shelf.neutral_module("_macros/bag.html")
    add = module.add_form(offer, NEXT, variant, csrf=CSRF, token=TOKEN)
    wish = module.wishlist_toggle(offer, saved, NEXT, variant, csrf=CSRF)
    return _cut(f"{add}{wish}")


def offer_forms(offer: Any, saved: bool, next_url: str, variant: str = "card") -> Markup:
    """Both forms of ``offer`` for this answer: its CSRF token, a fresh form token."""
    drawn: dict[tuple[Any, ...], tuple[str, ...]] = current_app.extensions[_KEY]
    key = (offer.slug, offer.title, saved, variant, request.script_root)
    parts = drawn.get(key)
    if parts is None:
        parts = _draw(offer, saved, variant)
        if len(drawn) >= 1024:  # offers × variants × marks: far more than a shelf holds
            drawn.clear()
        drawn[key] = parts
    values = {CSRF: str(escape(generate_csrf())), NEXT: str(escape(next_url))}
    out = []
    for index, part in enumerate(parts):
        if index % 2 == 0:
            out.append(part)
        elif part == TOKEN:
            out.append(secrets.token_urlsafe(16))  # URL-safe: nothing to escape
        else:
            out.append(values[part])
    # Our macros' output with escaped values in the slots.
    return Markup("".join(out))  # noqa: S704


def init_app(app: Flask) -> None:
    """After the shelf's: the forms are drawn in its environment, with the bag's limit."""
    from shop.bag.models import MAX_QUANTITY

    app.extensions[_KEY] = {}
    shelf.neutral_globals(app, max_quantity=MAX_QUANTITY)
