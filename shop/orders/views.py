"""A buyer's order page: its status, lines and context, to its owner only."""

from __future__ import annotations

from datetime import timedelta

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    render_template,
    request,
    session,
)
from flask_login import current_user

from shop.orders import invoices, services
from shop.orders.choices import LABELS
from shop.orders.models import Order

bp = Blueprint("orders", __name__)


@bp.record_once
def _labels(state) -> None:
    # The order macros show the context's choices by their labels.
    state.app.jinja_env.globals["order_labels"] = LABELS


def may_view(order: Order, key: str | None) -> bool:
    """Whether this request may see ``order``: its signed-in customer, the visit that placed
    it, or whoever holds its link (``services.can_view`` with the request's identity)."""
    user_id = current_user.id if current_user.is_authenticated else None
    return services.can_view(order, key, user_id=user_id, visit=getattr(session, "key", None))


@bp.get("/orders/<reference>")
def show_order(reference: str) -> Response:
    """The order, for the customer it belongs to, the visit that placed it, or whoever holds
    its link; anyone else gets the same 404 as for an order that does not exist."""
    key = request.args.get("key")
    order = services.get_order(reference)
    if order is None or not may_view(order, key):
        abort(404, description="There is no order at this address.")
    response = make_response(
        render_template(
            "orders/order.html",
            order=order,
            key=key if services.key_matches(order.reference, key) else None,
        )
    )
    # The page is private and its address may carry a key: no shared caches, no referrer.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


@bp.get("/orders/<reference>/invoice")
def show_invoice(reference: str) -> Response:
    """The order's invoice as a page to print or save as PDF: for whoever may see the order
    (its link's key, its customer, its visit) and for administrators."""
    key = request.args.get("key")
    order = services.get_order(reference)
    allowed = order is not None and (
        may_view(order, key) or (current_user.is_authenticated and current_user.is_admin)
    )
    if not allowed or order.invoice is None:
        abort(404, description="There is no invoice at this address.")
    due_days = int(current_app.config["INVOICE_DUE_DAYS"])
    response = make_response(
        render_template(
            "orders/invoice.html",
            order=order,
            invoice=order.invoice,
            due_days=due_days,
            due=order.invoice.issued_at + timedelta(days=due_days),
            payment_details=invoices.lines_of(current_app.config["INVOICE_PAYMENT_DETAILS"]),
            note=current_app.config["INVOICE_NOTE"],
            key=key if services.key_matches(order.reference, key) else None,
        )
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response
