"""Stripe Checkout: start a Checkout Session for an order, and fulfil it once Stripe says paid.

The shop never trusts the browser about a payment: the success page and the webhook both ask
Stripe for the session (``fulfil``), and ``orders.services.mark_paid`` decides with one
conditional UPDATE, so the two arriving at once change the order once.

Creating a session is idempotent per order and attempt (the Idempotency-Key is derived from
the order), so a double click, a retry after a timeout or two tabs get the same session.
Stripe being slow or down never loses an order: it stays ``pending_payment`` and its page
offers "Pay now".
"""

from __future__ import annotations

import logging

import stripe
from flask import current_app
from sqlalchemy import update

from shop.checkout import services as checkout
from shop.db import write_transaction
from shop.extensions import db
from shop.orders import services as orders
from shop.orders.models import Order, OrderStatus
from shop.urls import absolute_url

log = logging.getLogger(__name__)

PAID_STATUSES = ("paid", "no_payment_required")
MAX_NETWORK_RETRIES = 2
DEFAULT_TIMEOUT = 10  # seconds, per attempt; STRIPE_TIMEOUT overrides it
_CLIENT_KEY = "shop.payments.stripe_client"


class PaymentUnavailable(Exception):
    """Stripe could not be reached or refused to answer; the order is kept as it was."""

    message = (
        "The payment service could not be reached. Your order is saved: "
        "use Pay now on its page to try again."
    )

    def __init__(self, message: str | None = None):
        if message:
            self.message = message
        super().__init__(self.message)


def enabled() -> bool:
    """Whether Stripe Checkout is used (a secret key is configured)."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def client() -> stripe.StripeClient:
    """The app's Stripe client, built from the configuration once per app and settings.

    ``STRIPE_API_BASE`` points it elsewhere (the tests' fake Stripe). Each attempt waits at
    most ``STRIPE_TIMEOUT`` seconds (10 by default: stripe's own 80 would hold a worker
    far too long), and connection errors, timeouts, 409 and 5xx answers are retried twice
    with stripe's backoff; POSTs carry an idempotency key, so a retry never creates twice.
    """
    config = current_app.config
    api_key = config.get("STRIPE_SECRET_KEY")
    if not api_key:
        raise RuntimeError("Stripe is not configured (SHOP_STRIPE_SECRET_KEY is unset)")
    base = config.get("STRIPE_API_BASE") or None
    timeout = float(config.get("STRIPE_TIMEOUT", DEFAULT_TIMEOUT))
    settings = (api_key, base, timeout)
    cached = current_app.extensions.get(_CLIENT_KEY)
    if cached is not None and cached[0] == settings:
        # One client per app keeps requests' connection pools (one session per thread).
        return cached[1]
    # requests is a dependency of stripe and what it picks by default; the client is built
    # here only to pass the timeout, which StripeClient itself does not take.
    http_client = stripe.RequestsClient(timeout=timeout)
    made = stripe.StripeClient(
        api_key,
        base_addresses={"api": base} if base else None,
        max_network_retries=MAX_NETWORK_RETRIES,
        http_client=http_client,
    )
    current_app.extensions[_CLIENT_KEY] = (settings, made)
    return made


def success_url() -> str:
    """Where Stripe sends the buyer after paying; Stripe fills in the session id."""
    # Concatenated after url_for, which would escape the braces of the placeholder.
    return absolute_url("payments.success") + "?session_id={CHECKOUT_SESSION_ID}"


def _session_params(order: Order) -> dict:
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": line.currency.lower(),
                    "unit_amount": line.unit_price_cents,
                    "product_data": {"name": line.title},
                },
                "quantity": line.quantity,
            }
            for line in order.lines
        ],
        "client_reference_id": order.reference,
        "metadata": {"order_reference": order.reference, "order_id": str(order.id)},
        "customer_email": order.email,
        "success_url": success_url(),
        "cancel_url": absolute_url(
            "payments.cancel", order=order.reference, key=orders.access_key(order.reference)
        ),
    }


def _unavailable(action: str, order_reference: str, error: stripe.StripeError) -> None:
    # The error's own text (request id, Stripe's message, the network error); stripe masks
    # keys in its messages and the key is never passed to the log here.
    log.warning(
        "Stripe: %s for order %s failed: %s (HTTP %s): %s",
        action,
        order_reference,
        type(error).__name__,
        error.http_status,
        " ".join((error.user_message or str(error)).split()),  # one line in the log
    )


def start_checkout(order: Order) -> str:
    """The address of a Stripe Checkout page where the buyer pays ``order``.

    An open session of the order is reused; a session that expired gives way to a new one
    (the next payment attempt). The session id is stored on the order. Raises
    ``PaymentUnavailable`` when Stripe cannot be reached or refuses, and ``ValueError`` when
    the order is not waiting for payment.
    """
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise ValueError(f"order {order.reference} is {order.status}, not pending_payment")
    sessions = client().v1.checkout.sessions
    attempt = order.payment_attempt or 0
    try:
        current = _current_session(order.stripe_session_id) if order.stripe_session_id else None
        if current is not None and current.status == "open":
            return current.url
        if current is not None and current.status == "complete":
            # Paid (or being paid) but not yet fulfilled here: a new session could take the
            # money twice. The success page fulfils it and shows the order.
            return success_url().replace("{CHECKOUT_SESSION_ID}", current.id)
        if order.stripe_session_id:
            # Expired (or unknown to Stripe): the next attempt needs a key of its own, since
            # Stripe would answer the old key with the old session.
            attempt += 1
        created = sessions.create(
            params=_session_params(order),  # type: ignore[arg-type]
            options={"idempotency_key": f"checkout-{order.reference}-{attempt}"},
        )
    except stripe.StripeError as error:
        _unavailable("starting Checkout", order.reference, error)
        raise PaymentUnavailable() from error

    order_id = order.id
    with write_transaction():
        # Conditional, so a payment recorded meanwhile is never touched; two requests that
        # raced here used the same key and got the same session, so either write is right.
        stored = db.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == OrderStatus.PENDING_PAYMENT)
            .values(stripe_session_id=created.id, payment_attempt=attempt)
        ).rowcount
    db.session.refresh(order)
    if not stored:
        raise ValueError(f"order {order.reference} is {order.status}, not pending_payment")
    return created.url


def _current_session(session_id: str):
    """The order's stored session as Stripe has it now; None when Stripe does not know it
    (a session of another Stripe account or mode, after the keys changed)."""
    try:
        return client().v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError as error:
        if error.http_status != 404:
            raise
        log.warning("Stripe has no Checkout Session %s: starting a new one", session_id)
        return None


def fulfil(session_id: str) -> Order | None:
    """Ask Stripe about the Checkout Session and mark its order paid when it is.

    Returns the order (refreshed), or None when no order has this session or Stripe's
    session names another order. Safe to run twice at once (webhook and success page):
    ``mark_paid`` acts once. Raises ``PaymentUnavailable`` when Stripe cannot be asked.
    """
    if not session_id or len(session_id) > 255:
        return None
    # Our own table first: an unknown id (a typo, a probe) costs no call to Stripe.
    order = orders.find_by_session(session_id)
    if order is None:
        return None
    if order.status not in (OrderStatus.PENDING_PAYMENT, OrderStatus.EXPIRED):
        # Paid already (or moved on from paid): Stripe could change nothing, so a reloaded
        # success page or a late duplicate event costs no call.
        return order
    try:
        session = client().v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError as error:
        if error.http_status == 404:
            log.warning("Stripe has no Checkout Session %s (order %s)", session_id, order.reference)
            return None
        _unavailable("reading the session", order.reference, error)
        raise PaymentUnavailable() from error
    except stripe.StripeError as error:
        _unavailable("reading the session", order.reference, error)
        raise PaymentUnavailable() from error

    # A plain dict: stripe 16's objects are not dicts, and a field may be missing.
    found = session.to_dict()
    if found.get("client_reference_id") != order.reference:
        log.warning(
            "Checkout Session %s names order %r, but is stored on order %s: not fulfilled",
            session_id,
            found.get("client_reference_id"),
            order.reference,
        )
        return None
    if found.get("payment_status") in PAID_STATUSES and orders.mark_paid(order.id):
        checkout.finish_paid(order)
    db.session.refresh(order)
    return order
