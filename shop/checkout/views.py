"""The checkout page: the bag's summary and the context form; placing the order.

Without JavaScript it is one plain form: POST, then 303 to the order (or to Stripe), or the
page again with every value kept, its errors and a 4xx status. With htmx each field is saved
to the draft as it is typed (``/checkout/draft``, one field a request) and checked when it
loses focus after a change (``/checkout/validate``, which answers the field re-rendered).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter.util import get_remote_address
from flask_login import current_user, user_logged_in
from flask_wtf.csrf import CSRFError
from werkzeug.datastructures import MultiDict

from shop import origin, throttle
from shop.accounts.services import normalize_email
from shop.bag import services as bag_services
from shop.bag.views import current_owner
from shop.checkout import services
from shop.checkout.forms import DRAFT_FIELDS, LIMITS, MULTI, CheckoutForm
from shop.checkout.services import CheckoutError
from shop.domain import Owner
from shop.errors import expired_form
from shop.orders import services as orders
from shop.orders.models import OrderStatus
from shop.payments import services as payments
from shop.sessions import ensure_stored, key_before_sign_in
from shop.web import ERROR_STATUS, go_to, retry_in_words

bp = Blueprint("checkout", __name__)


def _no_store(response: Response) -> Response:
    # The page holds what the buyer typed and a one-time token: never from a cache.
    response.headers["Cache-Control"] = "no-store"
    return response


def _form_from_draft(owner) -> CheckoutForm:
    draft = services.load_draft(owner) if _has_state() else {}
    data = MultiDict()
    for field in DRAFT_FIELDS:
        value = draft.get(field)
        if field in MULTI:
            for item in value or []:
                data.add(field, item)
        elif value is not None:
            data.add(field, value)
    if current_user.is_authenticated:
        data.setdefault("name", current_user.name)
        data.setdefault("email", current_user.email)
    if "traffic_unit" not in data:
        data["traffic_unit"] = "per_second"
    # Filled from the draft, not validated: nothing shows as wrong before it is touched.
    return CheckoutForm(formdata=data)


def _has_state() -> bool:
    return current_user.is_authenticated or bool(getattr(session, "stored", False))


def _page(
    form: CheckoutForm, status: int = 200, message: str | None = None, lines=None
) -> Response:
    owner = current_owner()
    if lines is None:
        lines = bag_services.bag_lines(owner) if _has_state() else []
    form.bag_fingerprint.data = services.fingerprint(lines)
    if not form.checkout_token.data or form.checkout_token.errors:
        form.checkout_token.data = secrets.token_urlsafe(24)
    if message:
        form.form_errors.append(message)
    context: dict[str, Any] = {
        "form": form,
        "lines": lines,
        "changed": services.changed_prices(lines),
        "subtotal": sum(line.offer.price_cents * line.quantity for line in lines),
        "currency": lines[0].offer.currency if lines else "USD",
        "pending": services.pending_order(owner) if _has_state() else None,
        "by_stripe": payments.enabled(),
        "limits": LIMITS,
    }
    return _no_store(make_response(render_template("checkout/checkout.html", **context), status))


def _submitted() -> dict[str, str | list[str]]:
    """The checkout fields as sent, for the draft."""
    form = request.form
    return {
        field: form.getlist(field) if field in MULTI else form.get(field, "")
        for field in DRAFT_FIELDS
    }


@bp.get("/checkout")
def show_checkout() -> Response:
    """The bag's summary and the form, filled from the saved draft."""
    owner = current_owner()
    lines = bag_services.bag_lines(owner) if _has_state() else []
    if not lines:
        flash("Your bag is empty. Add a review to check out.", "info")
        return redirect(url_for("catalog.list_offers"), 303)
    return _page(_form_from_draft(owner), lines=lines)


@bp.post("/checkout")
def place() -> Response:
    """Place the order: 303 to its page (invoice mode) or to Stripe Checkout."""
    form = CheckoutForm()
    if not form.validate():
        return _page(form, 400)
    ensure_stored(session)
    owner = current_owner()
    user_id = current_user.id if current_user.is_authenticated else None
    # Each order placed mails the address typed and the owner: orders placed are counted
    # per client and per address. Counted once placed, so the clicks of a double submit
    # (one order) are never refused; a burst of distinct orders at the very same moment may
    # pass a limit by the number of workers, and is stopped after.
    limits = _placement_limits(form.email.data)
    seconds = throttle.wait(limits)
    if seconds:
        replayed = services.already_placed(owner, user_id, form.checkout_token.data)
        if replayed is not None:  # the second click of an order already placed
            return go_to(orders.order_url(replayed))
        response = _page(form, 429, retry_in_words(seconds, "orders"))
        response.headers["Retry-After"] = str(seconds)
        return response
    by_stripe = payments.enabled()
    try:
        placed = services.place_order(
            owner,
            user_id,
            form.context(),
            form.checkout_token.data,
            form.bag_fingerprint.data or "",
            bool(form.confirm_prices.data),
            by_stripe,
        )
    except CheckoutError as error:
        if not bag_services.bag_lines(owner):
            # Nothing to order: what was typed is kept for the next checkout.
            services.save_draft(owner, _submitted())
            flash(error.message, "info")
            return redirect(url_for("catalog.list_offers"), 303)
        if error.field:
            form[error.field].errors = [*form[error.field].errors, error.message]
            return _page(form, ERROR_STATUS[error.kind])
        return _page(form, ERROR_STATUS[error.kind], error.message)
    order = placed.order
    if placed.created:
        throttle.count(limits)
    if order.status == OrderStatus.PENDING_PAYMENT and by_stripe:
        # Kept until the payment arrives: a buyer who cancels on Stripe finds the form
        # filled in, with JavaScript (saved as typed) or without it (saved here).
        services.save_draft(owner, _submitted())
        try:
            target = payments.start_checkout(order)
        except payments.PaymentUnavailable as error:
            flash(error.message, "error")
            return go_to(orders.order_url(order))
        return go_to(target)
    if placed.created:
        orders.send_order_mail(order, "placed")
        # The order page says thank you and what happens next; the message only confirms.
        flash(f"Order {order.reference} is placed.", "success")
    return go_to(orders.order_url(order))


def _placement_limits(email: str | None) -> list[throttle.Rule]:
    address = normalize_email(email)[:254]
    return [
        ("RATELIMIT_ORDER", f"orders/client/{get_remote_address()}"),
        ("RATELIMIT_ORDER_EMAIL", f"orders/email/{address}"),
    ]


@bp.errorhandler(CSRFError)
def form_expired(error: CSRFError) -> Response:
    """Place order with a token of a session that is gone (it ended, or the person signed
    in or out elsewhere): nothing is placed, and the checkout comes back filled in as sent,
    with what happened and the one button that places the order. A bag lost with the
    session is filled again from the page's lines, and the draft keeps what was typed
    (only for a request the browser says came from this shop's own page)."""
    if request.endpoint != "checkout.place":
        return expired_form()  # the draft's background saves: the page renews its token
    owner = current_owner()
    lines = None
    if origin.same_origin(request):
        ensure_stored(session)
        owner = current_owner()
        items = []
        for value in request.form.getlist("bag_line"):
            slug, _, quantity = value.partition(":")
            if quantity.isdigit() and len(quantity) <= 3:
                items.append((slug[:80], int(quantity)))
        bag_services.refill(owner, items)
        services.save_draft(owner, _submitted())
        lines = bag_services.bag_lines(owner)  # the row of a new session comes at the end
    form = CheckoutForm()
    form.validate()  # the fields' own messages too, so nothing is hidden
    return _page(
        form,
        400,
        "Your session had ended, so the order was not placed yet. Everything you typed is "
        "below: check it and place the order.",
        lines=lines,
    )


# ---------------------------------------------------------------- the draft, field by field


def _field_name() -> str:
    field = request.form.get("_field", "")
    if field not in DRAFT_FIELDS:
        abort(400, description="That is not a field of the checkout.")
    return field


def _save(field: str) -> None:
    ensure_stored(session)
    value = request.form.getlist(field) if field in MULTI else request.form.get(field, "")
    services.save_draft_field(current_owner(), field, value)


@bp.post("/checkout/draft")
def save_draft() -> Response:
    """Keep one field of the draft as it is typed (htmx, debounced)."""
    _save(_field_name())
    return make_response("", 204)


@bp.post("/checkout/validate")
def validate_field() -> Response:
    """Keep one field and answer it re-rendered with its error, if any (htmx, on change)."""
    field = _field_name()
    _save(field)
    data = MultiDict(request.form)
    form = CheckoutForm(formdata=data)
    # Only this field's own checks (and hosting for "Other"), not the whole form's.
    form[field].validate(form)
    return _no_store(
        make_response(render_template("checkout/_field.html", form=form, name=field, limits=LIMITS))
    )


@user_logged_in.connect
def _join_draft(_app: Any, user: Any, **_extra: Any) -> None:
    """At sign-in, the draft typed during the visit becomes the customer's."""
    key = key_before_sign_in()
    if key is not None:
        services.merge_draft(Owner.visit(key), Owner.customer(user.id))
