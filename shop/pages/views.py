"""The trust pages: /privacy, /terms, /refunds and /contact.

The endpoint names (``pages.privacy``, ``pages.terms``, ``pages.refunds``,
``pages.contact``) are linked from the footer and the checkout: keep them stable.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app

from shop.pages import services
from shop.urls import absolute_url
from shop.web import render_page

bp = Blueprint("pages", __name__)


def _show(name: str) -> Response:
    page = services.load_page(name, Path(current_app.instance_path), current_app.config)
    canonical = absolute_url(f"pages.{name}")
    return render_page("pages/page.html", ["content"], page=page, canonical=canonical)


@bp.get("/privacy")
def privacy() -> Response:
    """The privacy notice: what the shop keeps, why, for how long, and how to have it erased."""
    return _show("privacy")


@bp.get("/terms")
def terms() -> Response:
    """The terms of sale."""
    return _show("terms")


@bp.get("/refunds")
def refunds() -> Response:
    """Refunds and cancellation."""
    return _show("refunds")


@bp.get("/contact")
def contact() -> Response:
    """The studio's contact details and imprint."""
    return _show("contact")
