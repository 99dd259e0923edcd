"""The administrators' order pages: the list (filtered, searched, paginated), one order with
its status form, and the CSV export of the list's orders.

Every view is for administrators only (``admin_required``). Orders left waiting for payment
longer than a day are marked expired before they are shown, so the pages never show a stale
"Waiting for payment". A status change is one UPDATE that applies only when the status
differs, so sending the same status twice (a double click, two tabs) changes nothing, not
even ``updated_at``.
"""

from __future__ import annotations

import logging
import math
import re
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
    url_for,
)
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from shop.accounts.models import User
from shop.accounts.views import admin_required
from shop.clock import now
from shop.extensions import db
from shop.orders import services
from shop.orders.export import QUERY_LIMIT, OrderFilter, iter_csv, utc
from shop.orders.models import STATUS_LABELS, STATUSES, Order, OrderEvent, OrderStatus
from shop.orders.services import access_key, expire_pending, get_order
from shop.text import clean_block, clean_text

bp = Blueprint("orders_admin", __name__)
log = logging.getLogger(__name__)

PAGE_SIZE = 50
_PAGE_RE = re.compile(r"[0-9]+")
# Highest page number worth computing an offset for; later pages are past the end anyway.
_LAST_PAGE = 10**9
STATUS_ERROR = "Choose one of the statuses in the list."
NOTE_LIMIT = 2000


# ---------------------------------------------------------------- helpers


def _render(template: str, status: int = 200, **context: Any) -> Response:
    """An admin page: customers' details, so never kept by a cache."""
    context.update(status_labels=STATUS_LABELS, as_utc=utc)
    response = make_response(render_template(template, **context), status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(raw: str | None) -> int:
    """The page number from ``?page=``: 1 when absent; 400 when it is not a whole number."""
    if raw is None or raw == "":
        return 1
    digits = raw.lstrip("0") if _PAGE_RE.fullmatch(raw) else ""
    if not digits:
        abort(400, description="The page number must be a whole number from 1 up: 1, 2, 3…")
    return int(digits) if len(digits) < len(str(_LAST_PAGE)) else _LAST_PAGE


def _filters() -> OrderFilter:
    """The list's filters from the query string; 400 for a status that does not exist."""
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        abort(
            400,
            description="There is no such order status. Choose one from the list of statuses.",
        )
    return OrderFilter(status=status or None, query=clean_text(request.args.get("q"), QUERY_LIMIT))


def _filter_args(filters: OrderFilter) -> dict[str, str]:
    """The query string values that give these filters again (empty ones left out)."""
    args = {}
    if filters.status:
        args["status"] = filters.status
    if filters.query:
        args["q"] = filters.query
    return args


def _order_or_404(reference: str) -> Order:
    order = get_order(reference)
    if order is None:
        abort(404, description=f"There is no order with the reference {reference[:40]}.")
    return order


def _detail(order: Order, code: int = 200, error: str | None = None, **typed: Any) -> Response:
    """The order's page; ``error`` names what was refused, ``typed`` keeps what was typed."""
    return _render(
        "admin/order.html",
        code,
        order=order,
        customer=db.session.get(User, order.user_id) if order.user_id else None,
        events=list(
            db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
            )
        ),
        invoice=order.invoice,
        key=access_key(order.reference),
        status_error=error if typed.get("form") == "status" else None,
        note_error=error if typed.get("form") == "note" else None,
        typed=typed,
        note_limit=NOTE_LIMIT,
    )


def _note() -> tuple[str, str | None]:
    """The note as typed (control characters out, line breaks kept), or why it is refused."""
    note = clean_block(request.form.get("note"))
    if len(note) > NOTE_LIMIT:
        return note, f"Use at most {NOTE_LIMIT:,} characters for the note."
    return note, None


# ---------------------------------------------------------------- views


@bp.get("/admin/orders")
@admin_required
def list_orders() -> Response:
    """The orders, newest first, 50 a page; ``?status=``, ``?q=`` (reference or email)."""
    filters = _filters()
    page = _page(request.args.get("page"))
    expire_pending()
    total = db.session.scalar(select(func.count()).select_from(Order).where(*filters.conditions()))
    orders = list(
        db.session.scalars(
            filters.select()
            .options(lazyload(Order.lines))  # the list shows no lines
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    args = _filter_args(filters)
    return _render(
        "admin/orders.html",
        orders=orders,
        total=total,
        page=page,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        status_filter=filters.status or "",
        query=filters.query,
        filtered=bool(args),
        statuses=STATUSES,
        page_url=lambda number: url_for("orders_admin.list_orders", **args, page=number),
        export_url=url_for("orders_admin.export", **args),
    )


@bp.get("/admin/orders.csv")
@admin_required
def export() -> Response:
    """The list's orders (same filters, every page) as a CSV download."""
    filters = _filters()
    expire_pending()
    filename = f"orders-{now():%Y%m%d-%H%M%S}.csv"
    # Built whole rather than streamed: a few thousand orders make a few megabytes, and the
    # database work ends inside the request.
    response = Response("".join(iter_csv(filters)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/admin/orders/<reference>")
@admin_required
def show(reference: str) -> Response:
    """One order: status, dates, payment, lines, the buyer's context, the status form."""
    order = _order_or_404(reference)
    if order.status == OrderStatus.PENDING_PAYMENT and expire_pending():
        db.session.refresh(order)
    return _detail(order)


@bp.post("/admin/orders/<reference>/status")
@admin_required
def set_status(reference: str) -> Response:
    """Move the order along its life (``ADMIN_TRANSITIONS``), with an optional note and a
    mail to the buyer; a move its life does not allow is refused with what it allows."""
    order = _order_or_404(reference)
    new_status = request.form.get("status", "")
    mail_buyer = request.form.get("mail_buyer") == "1"
    note, problem = _note()
    typed = {"form": "status", "status": new_status, "note": note, "mail_buyer": mail_buyer}
    if new_status not in STATUSES:
        return _detail(order, 400, STATUS_ERROR, **typed)
    if problem:
        return _detail(order, 400, problem, **typed)
    try:
        services.change_status(
            order, new_status, user_id=current_user.id, note=note, mail_buyer=mail_buyer
        )
    except services.StatusError as error:
        db.session.refresh(order)
        return _detail(order, 409, error.message, **typed)
    told = " The buyer is told by mail." if mail_buyer else ""
    flash(f"Order {order.reference} is now {STATUS_LABELS[new_status]}.{told}", "success")
    return redirect(url_for("orders_admin.show", reference=order.reference), 303)


@bp.post("/admin/orders/<reference>/notes")
@admin_required
def add_note(reference: str) -> Response:
    """Add an internal note to the order's history (administrators only ever see it)."""
    order = _order_or_404(reference)
    note, problem = _note()
    if not note:
        problem = "Write the note first."
    if problem:
        return _detail(order, 400, problem, form="note", note=note)
    services.add_note(order, note, user_id=current_user.id)
    flash("The note is added to the order's history.", "success")
    return redirect(url_for("orders_admin.show", reference=order.reference) + "#history", 303)
