"""Stripe Checkout views: the webhook, the pages Stripe sends the buyer back to, Pay now.

The webhook is what makes a payment count, whether or not the buyer's browser comes back;
the success page only gets there sooner (both go through ``services.fulfil``). Each event id
is acted on once (``stripe_events``); an event Stripe must send again (Stripe unreachable
while handling it) is answered 503 and not recorded, so Stripe's retry finds it new.
"""

from __future__ import annotations

import logging

import stripe
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    request,
    url_for,
)
from sqlalchemy.dialects import postgresql, sqlite

from shop import origin
from shop.clock import now
from shop.db import write_transaction
from shop.extensions import csrf, db
from shop.orders import services as orders
from shop.orders.models import Order, OrderStatus
from shop.orders.views import may_view
from shop.payments import services
from shop.payments.models import StripeEvent
from shop.payments.services import PaymentUnavailable
from shop.web import go_to

log = logging.getLogger(__name__)

bp = Blueprint("payments", __name__)


@bp.record_once
def _template_globals(state) -> None:
    # Pages of other domains (an order waiting for payment) offer Pay now when Stripe is on.
    state.app.jinja_env.globals["payments_enabled"] = services.enabled


FULFILLING = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED = "checkout.session.async_payment_failed"
EXPIRED = "checkout.session.expired"


def _text(body: str, status: int) -> Response:
    # Stripe shows the body in its dashboard's delivery log: short and plain.
    response = make_response(body + "\n", status)
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "no-store"
    return response


def _record(event_id: str, event_type: str, order_id: int | None) -> None:
    """Remember the event as handled; a delivery recorded at the same moment wins quietly."""
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    with write_transaction():
        db.session.execute(
            insert(StripeEvent)
            .values(id=event_id, type=event_type, order_id=order_id, received_at=now())
            .on_conflict_do_nothing(index_elements=["id"])
        )


# ---------------------------------------------------------------- webhook


@bp.post("/stripe/webhook")
@csrf.exempt
@origin.exempt
def webhook() -> Response:
    """Stripe's events about Checkout Sessions, verified by their signature."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not services.enabled() or not secret:
        if services.enabled():
            log.error("Stripe webhook called, but SHOP_STRIPE_WEBHOOK_SECRET is unset")
        abort(404)
    payload = request.get_data()
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("Stripe-Signature"), secret
        )
    except stripe.SignatureVerificationError:
        return _text("Invalid signature.", 400)
    except (ValueError, TypeError, AttributeError):
        # Not UTF-8, not JSON, or JSON that is no event object (stripe's parser assumes an
        # object and fails with AttributeError on a list or a string).
        return _text("Invalid payload.", 400)

    # A plain dict: stripe 16's objects are not dicts, and a signed event may still lack a
    # field we expect.
    event = event.to_dict()
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or len(event_id) > 255:
        return _text("Invalid event.", 400)
    if db.session.get(StripeEvent, event_id) is not None:
        return _text("Already handled.", 200)

    if event_type not in (*FULFILLING, FAILED, EXPIRED):
        # Not recorded: nothing was done, and the table keeps only what concerned an order.
        return _text("Ignored.", 200)
    data = event.get("data")
    session_object = data.get("object") if isinstance(data, dict) else None
    session_id = session_object.get("id") if isinstance(session_object, dict) else None
    if not isinstance(session_id, str) or not session_id:
        return _text("Invalid event.", 400)

    order: Order | None
    if event_type in FULFILLING:
        try:
            order = services.fulfil(session_id)
        except PaymentUnavailable:
            # Not recorded: Stripe delivers the event again later.
            return _text("Stripe could not be reached; try again.", 503)
    else:
        order = orders.find_by_session(session_id)
        if order is not None and event_type == EXPIRED:
            # Only a pending order expires: an order paid meanwhile (events arrive in any
            # order) stays paid.
            orders.mark_expired(order.id)
    _record(event_id, event_type, order.id if order is not None else None)
    return _text("OK.", 200)


# ---------------------------------------------------------------- the buyer's way back


@bp.get("/checkout/success")
def success() -> Response:
    """Stripe sends the buyer here after paying: fulfil now, then show the order."""
    if not services.enabled():
        abort(404)
    session_id = request.args.get("session_id", "")
    order = orders.find_by_session(session_id) if 0 < len(session_id) <= 255 else None
    # Another visitor's session id shows nothing, not even whether it exists.
    if order is None or not may_view(order, None):
        abort(404)
    try:
        fulfilled = services.fulfil(session_id)
    except PaymentUnavailable:
        flash(
            "We could not reach the payment service just now. Your payment will show on "
            "this page once Stripe confirms it.",
            "info",
        )
        return redirect(orders.order_url(order), 303)
    if fulfilled is None:
        abort(404)
    if fulfilled.paid_at is not None:
        flash("Payment received.", "success")
    else:
        flash(
            "Your payment is being processed. This page shows it once Stripe confirms it.",
            "info",
        )
    return redirect(orders.order_url(fulfilled), 303)


@bp.get("/checkout/cancel")
def cancel() -> Response:
    """The buyer left Stripe Checkout without paying: back to the checkout, all kept."""
    reference = request.args.get("order", "")
    order = orders.get_order(reference)
    if (
        order is not None
        and order.status == OrderStatus.PENDING_PAYMENT
        and may_view(order, request.args.get("key"))
    ):
        flash(
            f"Payment cancelled. Your order {order.reference} is saved and waits for "
            "payment; your bag and details are kept.",
            "info",
        )
    else:
        # Nothing about an order the visitor may not see; the checkout is theirs anyway.
        flash("Payment cancelled. Your bag and details are kept.", "info")
    return redirect(url_for("checkout.show_checkout"), 303)


# ---------------------------------------------------------------- Pay now


@bp.post("/orders/<reference>/pay")
def pay(reference: str) -> Response:
    """Pay now: send the buyer to Stripe Checkout for an order waiting for payment."""
    if not services.enabled():
        abort(404)
    order = orders.get_order(reference)
    if order is None or not may_view(order, request.form.get("key")):
        abort(404)
    if order.status != OrderStatus.PENDING_PAYMENT:
        abort(
            409,
            description=f"Order {order.reference} is not waiting for payment "
            f"({order.status_label.lower()}).",
        )
    try:
        target = services.start_checkout(order)
    except PaymentUnavailable as error:
        flash(error.message, "error")
        return go_to(orders.order_url(order))
    except ValueError:  # paid or expired between the check above and now
        abort(409, description=f"Order {order.reference} is not waiting for payment.")
    return go_to(target)
