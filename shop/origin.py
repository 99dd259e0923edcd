"""Cross-origin requests that change something are refused, on top of the CSRF token.

Modelled on Go's ``net/http.CrossOriginProtection``: browsers say where a request comes
from in ``Sec-Fetch-Site`` (every current browser) or at least ``Origin``. A POST that a
page of another origin made (another site, or a sibling subdomain: "same-site" is not
enough) is refused whatever token it carries, so a token that leaked (a planted session,
a copied page) is no use from elsewhere. Requests that carry neither header (scripts, old
browsers) are left to the CSRF token. Safe methods are never refused, and the Stripe
webhook, which Stripe's servers sign instead, is exempt.

No extension does this for Flask (Flask-WTF checks the Referer only over HTTPS, and only
as a same-host check), so it is these few lines.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Request, abort, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MESSAGE = (
    "This form was sent from another site, so nothing was done. "
    "Open the shop's own page and send it from there."
)
_exempt: set[str] = set()


def exempt(view: Callable) -> Callable:
    """Let other origins POST to ``view`` (for a server-to-server endpoint that checks a
    signature of its own)."""
    _exempt.add(f"{view.__module__}.{view.__name__}")
    return view


def from_another_origin(req: Request) -> bool:
    """Whether the browser says this request was made by a page of another origin."""
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site not in ("same-origin", "none")  # "none": typed, bookmarked, reloaded
    origin = req.headers.get("Origin")
    if origin is None:
        return False
    return urlsplit(origin).netloc.lower() != req.host.lower()  # "null" has no host: refused


def same_origin(req: Request) -> bool:
    """Whether the browser says this request comes from a page of this very origin (not
    just "no other origin": a request that says nothing is not vouched for)."""
    site = req.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site == "same-origin"
    origin = req.headers.get("Origin")
    return origin is not None and urlsplit(origin).netloc.lower() == req.host.lower()


def init_app(app: Flask) -> None:
    """Check every request that may change something before its view runs."""

    @app.before_request
    def refuse_cross_origin() -> None:
        if request.method in SAFE_METHODS or not from_another_origin(request):
            return
        view = app.view_functions.get(request.endpoint or "")
        if view is not None and f"{view.__module__}.{view.__name__}" in _exempt:
            return
        abort(403, description=MESSAGE)
