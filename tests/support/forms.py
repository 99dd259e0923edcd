"""The CSRF tokens the shop's pages carry, read as its forms and htmx read them."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

# Every page holds the token in htmx's request headers (hx-headers on <body>).
_HEADER_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')
# A form that posts without htmx carries it as a hidden field as well.
_FORM_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    """The CSRF token of the page, as its htmx requests send it."""
    found = _HEADER_TOKEN.search(html)
    assert found, f"no CSRF token on the page: {html[:300]!r}"
    return found[1]


def has_csrf_token(html: str) -> bool:
    """Whether the page carries a CSRF token (error pages of a refused request do not)."""
    return _HEADER_TOKEN.search(html) is not None


def csrf_token_of(client: FlaskClient, path: str = "/") -> str:
    """The CSRF token of the page at ``path``, as the client gets it."""
    return csrf_token(client.get(path).get_data(as_text=True))


def form_token(html: str) -> str:
    """The CSRF token of the page's first form with a hidden ``csrf_token`` field."""
    found = _FORM_TOKEN.search(html)
    assert found, f"no form with a CSRF token on the page: {html[:300]!r}"
    return found[1]
