"""Every answer's headers: the security headers and the request id; static files under
content-hashed addresses, cached for a year and compressed once with Brotli."""

from __future__ import annotations

import hashlib
import re
import uuid
from pathlib import Path
from typing import Any

import brotli
from flask import Flask, Response, g, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)
YEAR = 365 * 24 * 3600


_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str:
    """This request's id: the proxy's X-Request-ID when it looks like one, else a new one.
    Sent back in X-Request-ID and written in gunicorn's access log (gunicorn.conf.py)."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
    return g.request_id


def init_app(app: Flask) -> None:
    """Security headers on every answer; content-hashed static URLs cached for a year."""
    hashes: dict[str, tuple[float, str]] = {}
    # Brotli at its best level, once per file version: Flask-Compress would compress each
    # static answer again, at a fast level, as it streams (htmx alone is 52 KB), and has no
    # cache for streamed answers. Immutable files are worth compressing hard once.
    brotli_bodies: dict[tuple[str, str], bytes] = {}
    # form-action also governs where a form's redirect may lead: the checkout and "Pay now"
    # answer 303 to Stripe Checkout, so its origin is allowed when Stripe is configured.
    csp = CSP
    if app.config.get("STRIPE_SECRET_KEY"):
        origin = app.config["STRIPE_CHECKOUT_ORIGIN"]
        csp = CSP.replace("form-action 'self';", f"form-action 'self' {origin};")

    def _brotli_static(response: Response, filename: str, digest: str | None) -> None:
        if (
            digest is None
            or response.mimetype not in app.config["COMPRESS_MIMETYPES"]
            or not request.accept_encodings["br"]
            or "Content-Encoding" in response.headers
        ):
            return
        body = brotli_bodies.get((filename, digest))
        if body is None:
            raw = (Path(app.static_folder or "") / filename).read_bytes()
            body = brotli_bodies[(filename, digest)] = brotli.compress(raw, quality=11)
        response.direct_passthrough = False
        response.set_data(body)
        response.headers["Content-Encoding"] = "br"
        response.vary.add("Accept-Encoding")
        etag, weak = response.get_etag()
        if etag:
            response.set_etag(f"{etag}-br", weak=weak)
        response.headers.pop("Accept-Ranges", None)  # ranges would be of the raw file
        response.make_conditional(request)

    def static_hash(filename: str) -> str | None:
        # Flask has no content-hashed static URLs; Flask-Static-Digest needs a build step
        # and a manifest. A hash computed on first use (again when the file changes) is enough.
        cached = hashes.get(filename)
        if cached is not None and not app.debug:
            return cached[1]  # served files do not change under a running server
        path = Path(app.static_folder or "") / filename
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if cached is None or cached[0] != mtime:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            cached = hashes[filename] = (mtime, digest)
        return cached[1]

    @app.url_defaults
    def add_static_hash(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = static_hash(values["filename"])
            if digest:
                values["v"] = digest

    # Every answer's headers, unless its view set its own; with their lower-case names, so
    # that one pass over the answer's headers finds which it set (setdefault would scan
    # them once per header).
    fixed = [
        ("Content-Security-Policy", csp),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ]
    if app.config["HTTPS"]:
        fixed.append(("Strict-Transport-Security", "max-age=63072000; includeSubDomains"))
    defaults = tuple((name.lower(), name, value) for name, value in fixed)

    @app.after_request
    def set_headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name, _ in headers.items()}
        for lower, name, value in defaults:
            if lower not in present:
                headers.add(name, value)
        if "x-request-id" in present:
            headers["X-Request-ID"] = request_id()
        else:
            headers.add("X-Request-ID", request_id())
        if response.mimetype == "text/html" and "cache-control" not in present:
            # Every page carries the visitor's CSRF token (and counters): no shared cache may
            # keep one, and the browser asks again before reusing its own copy.
            headers.add("Cache-Control", "private, no-cache")
        if request.endpoint == "static" and response.status_code == 200:
            filename = (request.view_args or {}).get("filename", "")
            digest = static_hash(filename)
            if request.args.get("v") and request.args.get("v") == digest:
                response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
                _brotli_static(response, filename, digest)
            else:
                response.headers["Cache-Control"] = "no-cache"
        return response
