"""Bag and wishlist pages and actions.

Each action is a POST. Without JavaScript it answers 303 back to the page it came from,
with a flash message. With htmx it answers the fragment it changed, both header counters as
out-of-band swaps and a message for the page's polite live region, and triggers
``shop:bag-changed`` so the page can tell the shop's other open tabs.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, user_logged_in
from jinja2_fragments.flask import render_block, render_blocks

from shop.bag import offer_forms, services
from shop.bag.forms import (
    AddToBagForm,
    MoveToBagForm,
    PlainForm,
    QuantityForm,
    WishlistForm,
    first_error,
)
from shop.bag.models import MAX_QUANTITY
from shop.bag.services import Added, BagError, Counts
from shop.catalog import shelf
from shop.catalog.models import Offer
from shop.catalog.services import get_offer
from shop.domain import Owner
from shop.sessions import ensure_stored, key_before_sign_in
from shop.web import ERROR_STATUS, safe_next, wants_fragment

bp = Blueprint("bag", __name__)

NOTICE_KEY = "bag_notice"  # session key: the add to show in the notice after a redirect


def current_owner() -> Owner:
    """The owner of this request's bag and wishlist: the signed-in customer, or else the
    visitor's session."""
    if current_user.is_authenticated:
        return Owner.customer(current_user.id)
    return Owner.visit(session.key)


def _has_state() -> bool:
    # A visitor whose session has no row yet cannot own anything: skip the queries.
    return current_user.is_authenticated or bool(getattr(session, "stored", False))


@dataclass(frozen=True)
class Notice:
    """What the notice after an add shows."""

    offer: Offer
    quantity: int
    clamped: bool
    close_url: str
    return_focus: str | None = None


def _load_visitor_state() -> None:
    # Counters and wishlist marks come from one statement, read once per request.
    if "bag_counts" in g:
        return
    if g.get("database_unavailable"):  # the 503 page: empty counters, no query
        g.bag_counts, g.wishlist_ids = Counts(0, 0), frozenset()
    elif _has_state():
        owner = current_owner()
        if request.method in ("GET", "HEAD") and session.along_owner == owner:
            # Read with the session, in the same statement: a GET changes no bag, so what
            # the request found at its start is what it would find now.
            g.bag_counts, g.wishlist_ids = services.state_read_along(session.along)
        else:
            g.bag_counts, g.wishlist_ids = services.visitor_state(owner)
    else:
        g.bag_counts, g.wishlist_ids = Counts(0, 0), frozenset()


def header_counts() -> Counts:
    """The header counters' numbers, read once per request."""
    _load_visitor_state()
    return g.bag_counts


def in_wishlist(offer: Offer) -> bool:
    """Whether the offer is in this visitor's wishlist (read with the counters)."""
    _load_visitor_state()
    return offer.id in g.wishlist_ids


def pending_notice() -> Notice | None:
    """The notice left by a no-JavaScript add, shown once on the page it redirected to."""
    if NOTICE_KEY not in session or g.get("database_unavailable"):
        return None
    data = session.pop(NOTICE_KEY)
    offer = get_offer(str(data.get("slug", "")))
    if offer is None:
        return None
    return Notice(offer, int(data["quantity"]), bool(data["clamped"]), current_path())


def current_path() -> str:
    """This page's path and query, to come back to after a form."""
    return request.full_path.rstrip("?")


@bp.record_once
def _template_globals(state) -> None:
    # Globals rather than a context processor: imported macros see globals only.
    state.app.jinja_env.globals.update(
        header_counts=header_counts,
        in_wishlist=in_wishlist,
        pending_notice=pending_notice,
        current_path=current_path,
        max_quantity=MAX_QUANTITY,
        offer_forms=lambda offer, next_url, variant="card": offer_forms.offer_forms(
            offer, in_wishlist(offer), next_url, variant
        ),
        # A fresh token per form drawn: the add counts once however often it is sent.
        form_token=lambda: secrets.token_urlsafe(16),
        checkout_url=lambda: url_for("checkout.show_checkout"),
    )


# ---------------------------------------------------------------- answers


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.vary.add("HX-Request")
    return response


ANSWERS = "bag/answers.html"  # the named blocks of every htmx answer of the bag


def _changed(part: str, message: str, *, notice: Notice | None = None) -> Response:
    """The htmx answer to a change: the changed part (a rendered block), then out of band
    the counters, the message and the notice. With the notice on screen the message is for
    screen readers only (shown once, not twice)."""
    counts = services.counts(current_owner())
    body = part + render_blocks(
        ANSWERS, ["counters", "status", "notice"], counts=counts, message=message, added=notice
    )
    response = make_response(body)
    response.headers["HX-Trigger"] = "shop:bag-changed"
    return _no_store(response)


def _redirect(next_url: str, message: str | None) -> Response:
    if message:
        flash(message, "success")
    return _no_store(redirect(next_url, 303))


def _refuse(status: int, message: str) -> Response:
    """A change that cannot be made: the message in place (htmx) or on an error page."""
    if wants_fragment():
        response = make_response(render_block(ANSWERS, "message", message=message), status)
        response.headers["HX-Retarget"] = "#status"
        response.headers["HX-Reswap"] = "innerHTML"
        return _no_store(response)
    abort(status, description=message)


def _owner_for_change() -> Owner:
    ensure_stored(session)
    return current_owner()


# ---------------------------------------------------------------- pages


@bp.get("/bag")
def show_bag() -> Response:
    """The bag: lines with quantities, totals and the way to checkout."""
    return _render_bag()


def _render_bag(
    errors: dict[int, str] | None = None, typed: dict[int, str] | None = None, status: int = 200
) -> Response:
    lines = services.bag_lines(current_owner()) if _has_state() else []
    body = render_template(
        "bag/bag.html",
        lines=lines,
        subtotal=services.subtotal_cents(lines),
        errors=errors or {},
        typed=typed or {},
    )
    return _no_store(make_response(body, status))


@bp.get("/wishlist")
def show_wishlist() -> Response:
    """The wishlist: saved offers with Remove and Move to bag."""
    items = services.wishlist_items(current_owner()) if _has_state() else []
    return _no_store(make_response(render_template("bag/wishlist.html", items=items)))


# The forms a page may ask to have drawn again: add-card-<slug>, wish-detail-<slug>…
_FORM_ID = re.compile(r"^(add|wish)-(card|detail)-([a-z0-9-]{1,80})$")
MAX_FORMS = 60  # more than any page of this shop shows


@bp.get("/bag/counters")
def counters() -> Response:
    """Both header counters (out-of-band swaps for htmx), never cached.

    ``?forms=`` names forms of the page (their ids) to draw again too: a page shown again
    from the history, or in a tab that was in the background, gets fresh one-time tokens
    for its Add buttons and the wishlist marks as they are now.
    """
    forms: list[tuple[str, shelf.ShelfOffer, str]] = []
    next_url = "/"
    wanted = [part for part in request.args.get("forms", "").split(",") if part][:MAX_FORMS]
    if wanted:
        page = urlsplit(request.headers.get("HX-Current-URL", ""))
        next_url = safe_next(page.path + (f"?{page.query}" if page.query else ""), "/")
        offers = shelf.current().by_slug
        for form_id in wanted:
            found = _FORM_ID.match(form_id)
            offer = offers.get(found[3]) if found else None
            if offer is not None:
                forms.append((found[1], offer, found[2]))  # add or wish, offer, variant
    body = render_blocks(
        ANSWERS, ["counters", "forms"], counts=header_counts(), forms=forms, next_url=next_url
    )
    return _no_store(make_response(body))


# ---------------------------------------------------------------- actions


@bp.post("/bag/add")
def add() -> Response:
    """Add an offer to the bag."""
    form = AddToBagForm()
    next_url = safe_next(form.next.data, url_for("bag.show_bag"))
    if not form.validate():
        return _refuse(400, first_error(form))
    try:
        added = services.add_to_bag(
            _owner_for_change(), form.offer.data.strip(), form.quantity.data, form.token.data
        )
    except BagError as error:
        return _refuse(ERROR_STATUS[error.kind], error.message)
    message = _added_message(added)
    if wants_fragment():
        variant = "detail" if request.form.get("variant") == "detail" else "card"
        part = render_block(
            ANSWERS, "add_form", offer=added.offer, next_url=next_url, variant=variant
        )
        notice = Notice(
            added.offer,
            added.quantity,
            added.clamped,
            next_url,
            f"add-{variant}-{added.offer.slug}-button",
        )
        return _changed(part, message, notice=notice)
    session[NOTICE_KEY] = {
        "slug": added.offer.slug,
        "quantity": added.quantity,
        "clamped": added.clamped,
    }
    return _redirect(next_url, None)  # the notice on the next page says it


def _added_message(added: Added) -> str:
    if added.repeated:
        return f"Already added: your bag holds {added.quantity} {added.offer.title}"
    if added.clamped:
        return (
            f"Your bag holds {MAX_QUANTITY} {added.offer.title}, the most per order; "
            f"no more were added."
        )
    return f"Added {added.offer.title} to your bag"


@bp.post("/bag/lines/<int:line_id>/quantity")
def set_quantity(line_id: int) -> Response:
    """Set a line's quantity (the number typed, or the value of its − / + form)."""
    form = QuantityForm()
    next_url = url_for("bag.show_bag")
    if not form.validate():
        typed = {line_id: (request.form.get("quantity") or "")[:10]}
        return _bag_with_error(line_id, first_error(form), typed)
    try:
        line = services.set_quantity(_owner_for_change(), line_id, form.quantity.data)
    except BagError as error:
        return _refuse(ERROR_STATUS[error.kind], error.message)
    message = f"{line.offer.title}: quantity {line.quantity}"
    if wants_fragment():
        return _changed(_bag_block(), message)
    return _redirect(next_url, message)


def _bag_block(errors: dict[int, str] | None = None, typed: dict[int, str] | None = None) -> str:
    lines = services.bag_lines(current_owner())
    return render_block(
        "bag/bag.html",
        "bag_contents",
        lines=lines,
        subtotal=services.subtotal_cents(lines),
        errors=errors or {},
        typed=typed or {},
    )


def _bag_with_error(line_id: int, message: str, typed: dict[int, str]) -> Response:
    """Show the bag again with the message beside the line and what was typed kept."""
    if wants_fragment():
        body = _bag_block({line_id: message}, typed)
        body += render_block(ANSWERS, "status", message=message)
        return _no_store(make_response(body, 400))
    return _render_bag(errors={line_id: message}, typed=typed, status=400)


@bp.post("/bag/lines/<int:line_id>/remove")
def remove_line(line_id: int) -> Response:
    """Remove a line from the bag."""
    PlainForm()
    try:
        offer = services.remove_line(_owner_for_change(), line_id)
    except BagError as error:
        return _refuse(ERROR_STATUS[error.kind], error.message)
    message = f"Removed {offer.title} from your bag"
    if wants_fragment():
        return _changed(_bag_block(), message)
    return _redirect(url_for("bag.show_bag"), message)


@bp.post("/bag/clear")
def clear() -> Response:
    """Empty the bag."""
    removed = services.clear_bag(_owner_for_change())
    message = "Your bag is now empty" if removed else "Your bag was already empty"
    if wants_fragment():
        return _changed(_bag_block(), message)
    return _redirect(url_for("bag.show_bag"), message)


@bp.post("/wishlist/toggle")
def toggle_wishlist() -> Response:
    """Save an offer to the wishlist or take it out (the form says which)."""
    form = WishlistForm()
    next_url = safe_next(form.next.data, url_for("bag.show_wishlist"))
    if not form.validate():
        return _refuse(400, first_error(form))
    saved = form.saved.data == "1"
    try:
        offer = services.set_wishlist(_owner_for_change(), form.offer.data.strip(), saved)
    except BagError as error:
        return _refuse(ERROR_STATUS[error.kind], error.message)
    message = (
        f"Saved {offer.title} to your wishlist"
        if saved
        else f"Removed {offer.title} from your wishlist"
    )
    if wants_fragment():
        if request.form.get("variant") == "wishlist":
            return _changed(_wishlist_block(), message)
        variant = "detail" if request.form.get("variant") == "detail" else "card"
        part = render_block(
            ANSWERS, "wishlist_form", offer=offer, saved=saved, next_url=next_url, variant=variant
        )
        return _changed(part, message)
    return _redirect(next_url, message)


def _wishlist_block() -> str:
    items = services.wishlist_items(current_owner())
    return render_block("bag/wishlist.html", "wishlist_contents", items=items)


@bp.post("/wishlist/move")
def move_to_bag() -> Response:
    """Move a wishlist item to the bag."""
    form = MoveToBagForm()
    if not form.validate():
        return _refuse(400, first_error(form))
    try:
        added = services.move_to_bag(_owner_for_change(), form.offer.data.strip(), form.token.data)
    except BagError as error:
        return _refuse(ERROR_STATUS[error.kind], error.message)
    if added.clamped and not added.repeated:
        message = _added_message(added) + f" {added.offer.title} left your wishlist."
    elif added.repeated:
        message = _added_message(added)
    else:
        message = f"Moved {added.offer.title} to your bag"
    if wants_fragment():
        return _changed(_wishlist_block(), message)
    return _redirect(url_for("bag.show_wishlist"), message)


@user_logged_in.connect
def _join_visit(_app: Any, user: Any, **_extra: Any) -> None:
    """At sign-in, the visit's bag and wishlist join the customer's, and the page says so."""
    key = key_before_sign_in()
    if key is None:
        return
    merged = services.merge(Owner.visit(key), Owner.customer(user.id))
    parts = []
    if merged.bag_lines:
        items = "item" if merged.bag_lines == 1 else "items"
        verb = "was" if merged.bag_lines == 1 else "were"
        parts.append(f"{merged.bag_lines} {items} from this visit {verb} added to your bag.")
    if merged.clamped:
        parts.append(f"{merged.clamped} reached the most one order can hold ({MAX_QUANTITY}).")
    if merged.wishlist:
        offers = "offer" if merged.wishlist == 1 else "offers"
        parts.append(f"{merged.wishlist} saved {offers} joined your wishlist.")
    if parts:
        flash(" ".join(parts), "success")
