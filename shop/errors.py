"""Error pages and their handlers: the shop's wording for each status, an htmx fragment or
a whole page, the 503 page while the database is unreachable, and the page for a form whose
session had ended."""

from __future__ import annotations

import contextlib
import json
from urllib.parse import urlsplit

from flask import Flask, Response, g, make_response, render_template, request, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError, generate_csrf
from jinja2_fragments.flask import render_block
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestURITooLarge

from shop.db import database_unavailable
from shop.extensions import db, htmx
from shop.web import limit_retry_text, render_page, safe_next

ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood. Check the address or the form."),
    403: ("Forbidden", "You are not allowed to do that."),
    404: ("Page not found", "There is no page at this address. The offers are a good start."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    409: ("Already done", "That request was already carried out."),
    413: ("Request too large", "What was sent is larger than the shop accepts."),
    414: ("Address too long", "The address is longer than the shop accepts."),
    429: ("Too many requests", "Please wait a moment and try again."),
    500: ("Something went wrong", "The shop could not answer. Please try again in a moment."),
    503: (
        "Busy for a moment",
        "The shop cannot reach its database just now. Please try again in a few seconds: "
        "nothing you sent was lost or half-saved.",
    ),
}
RETRY_AFTER = 5  # seconds a visitor is asked to wait when the database is unavailable
# The one button of the page that sends an expired form again, by view.
EXPIRED_BUTTONS = {
    "bag.add": "Add to bag",
    "bag.set_quantity": "Change the quantity",
    "bag.remove_line": "Remove it from the bag",
    "bag.clear": "Empty the bag",
    "bag.toggle_wishlist": "Change the wishlist",
    "bag.move_to_bag": "Move to bag",
    "orders_admin.set_status": "Change the status",
}


def render_error(code: int, detail: str | None = None) -> Response:
    """The error page of ``code`` (the shop's wording, or ``detail``); for an htmx swap, the
    message as a fragment for the page's status region."""
    title, message = ERROR_TEXT.get(code, ("Error", "The request could not be completed."))
    context = {"code": code, "title": title, "message": detail or message}
    if htmx and not htmx.boosted:
        body = render_block("errors/error.html", "error", fragment=True, **context)
        response = Response(body, code)
        # Let htmx swap the message in place of the fragment that was asked for.
        response.headers["HX-Retarget"] = "#status"
        response.headers["HX-Reswap"] = "innerHTML"
        response.vary.add("HX-Request")
        return response
    return render_page("errors/error.html", ["error"], status=code, **context)


def expired_form() -> Response:
    """A form whose CSRF token no longer matches the session (signed in or out in
    another tab, cookies cleared, the session ended). Nothing was done. With htmx the
    page gets a fresh token and sends the request again itself (static/js/shop.js);
    without it, a page holds what was sent with one button that sends it again. Only
    same-origin requests get here: others were refused by shop.origin."""
    message = (
        "This page had expired (you signed in or out elsewhere, or your session ended), "
        "so nothing was done yet."
    )
    if htmx and not htmx.boosted:
        response = render_error(400, message + " Sending it again…")
        response.headers["HX-Trigger"] = json.dumps({"shop:token-renewed": generate_csrf()})
        return response
    fields = [
        (name, value)
        for name, values in request.form.lists()
        if name != "csrf_token"
        for value in values
    ]
    referrer = safe_next(urlsplit(request.referrer or "").path or None, url_for("catalog.home"))
    body = render_template(
        "errors/expired.html",
        message=message + " Check it and send it again.",
        action=request.full_path.rstrip("?"),
        fields=fields,
        button=EXPIRED_BUTTONS.get(request.endpoint or "", "Send it again"),
        back=referrer,
    )
    response = make_response(body, 400)
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Styled error pages; an htmx request gets the message as a fragment."""

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        if isinstance(error, RateLimitExceeded) and error.response is not None:
            return error.response  # the view's own page (a form kept as typed)
        code = error.code or 500
        # A description given with abort() is meant for the visitor; Werkzeug's defaults
        # are replaced by the shop's own wording.
        detail = error.description if error.description != type(error).description else None
        if isinstance(error, CSRFError):
            return expired_form()
        if isinstance(error, RateLimitExceeded):
            detail = limit_retry_text()
        response = render_error(code, detail)
        for name, value in error.get_headers():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
        return response

    def busy(error: BaseException) -> Response:
        app.logger.warning("database unavailable: %s", " ".join(str(error).split())[:300])
        # The session is not saved after this answer (shop/sessions.py): it would only
        # wait for the same database again. The page asks nothing of the database: with
        # this mark the counters read as empty (bag) and no customer is loaded (accounts).
        g.database_unavailable = True
        with contextlib.suppress(Exception):
            db.session.rollback()
        response = render_error(503)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Response:
        if database_unavailable(error):
            return busy(error)
        app.logger.error("database error", exc_info=error)
        return render_error(500)

    @app.errorhandler(InternalServerError)
    def handle_server_error(error: InternalServerError) -> Response:
        # Errors outside the view (opening or saving the session) arrive here wrapped.
        original = getattr(error, "original_exception", None)
        if database_unavailable(original):
            return busy(original)
        return render_error(500)

    @app.before_request
    def refuse_long_query() -> None:
        if len(request.query_string) > app.config["MAX_QUERY_LENGTH"]:
            raise RequestURITooLarge()
