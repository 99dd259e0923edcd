"""Which host names the shop answers for, checked before anything else runs.

A request's ``Host`` (or, behind a trusted proxy, ``X-Forwarded-Host``) decides the address
that Flask builds external links with. A forged one must never reach a view, a mail or a
cache key, so the check sits in the WSGI stack in front of Flask: no session is opened, no
hook runs, and the answer is a short 400 page that needs neither templates nor database.

The allowed names are the host of ``PUBLIC_URL`` and ``ALLOWED_HOSTS`` (by default
``127.0.0.1`` and ``localhost``, for a laptop). A name starting with a dot allows its
subdomains too. Werkzeug's ``get_host`` does the matching (ports are ignored, characters are
validated); Flask 3.1's ``TRUSTED_HOSTS`` is set to the same list, so ``request.host`` agrees.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from werkzeug.exceptions import SecurityError
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_host

REFUSED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unknown host</title></head>
<body><main><h1>Unknown host</h1>
<p>This server does not serve the host name the request was sent to.</p></main></body></html>
"""


def allowed_hosts(config: dict[str, Any]) -> list[str]:
    """The host names to answer for: ``PUBLIC_URL``'s host and ``ALLOWED_HOSTS``.

    ``ALLOWED_HOSTS`` is a list, or a string of names separated by commas or spaces
    (``SHOP_ALLOWED_HOSTS="shop.example, www.shop.example"``).
    """
    names: list[str] = []
    public = config.get("PUBLIC_URL")
    if public:
        host = urlsplit(public).hostname
        if not host:
            raise ValueError(f"PUBLIC_URL must be an origin like https://shop.example: {public!r}")
        names.append(host)
    extra = config.get("ALLOWED_HOSTS") or []
    if isinstance(extra, str):
        extra = extra.replace(",", " ").split()
    names.extend(str(name).strip().lower() for name in extra if str(name).strip())
    return list(dict.fromkeys(names))


class HostGuard:
    """WSGI middleware: a request for a host that is not allowed gets 400, nothing else."""

    def __init__(self, app: Any, hosts: Iterable[str]):
        self.app = app
        self.hosts = list(hosts)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            host = get_host(environ, self.hosts)
        except SecurityError:
            host = ""
        if not host:  # not allowed, missing (HTTP/1.0) or malformed
            response = Response(REFUSED, 400, content_type="text/html; charset=utf-8")
            response.headers["Cache-Control"] = "no-store"
            response.headers["Content-Security-Policy"] = "default-src 'none'"
            response.headers["X-Content-Type-Options"] = "nosniff"
            return response(environ, start_response)
        return self.app(environ, start_response)
