"""The checkout draft and order placement.

The draft is saved one field per row and per request, so two saves at once (two fields
typed in quick succession, or two tabs) never overwrite each other.

An order is placed in one write transaction: the lines are copied from the bag with the
catalogue's title and price of the moment, the total is summed, and the page's checkout
token, unique in the database, makes a double click, a retry or a replay find the order
that token already placed instead of placing a second one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from shop import funnel
from shop.bag import services as bag_services
from shop.bag.models import BagLine
from shop.checkout.forms import BLOCKS, DRAFT_FIELDS, LIMITS, MULTI
from shop.checkout.models import DraftField
from shop.clock import now
from shop.db import upsert_insert, write_transaction
from shop.domain import DomainError, ErrorKind, Owner, OwnerKind
from shop.extensions import db
from shop.orders import services as orders
from shop.orders.models import Order, OrderLine, OrderStatus
from shop.sessions import SessionRecord
from shop.text import clean_block, clean_text

DRAFT_LIMIT = 4000  # longest value a draft keeps (the largest field's limit)


class CheckoutError(DomainError):
    """An order that cannot be placed as sent: INVALID (not a form of the checkout),
    CONFLICT (the bag, a price or the form itself changed or was spent); the view maps the
    kind to an HTTP status. ``field`` names the field at fault, if one is."""

    def __init__(self, kind: ErrorKind, message: str, field: str | None = None):
        super().__init__(kind, message)
        self.field = field


def _owned(model, owner: Owner) -> tuple:
    return (model.owner_type == owner.kind, model.owner_id == owner.id)


# ---------------------------------------------------------------- the draft


def _draft_value(field: str, value: str | list[str]) -> str:
    if field not in DRAFT_FIELDS:
        raise CheckoutError(ErrorKind.INVALID, "That is not a field of the checkout.")
    if field in MULTI:
        return json.dumps(sorted({clean_text(str(item), 40) for item in value})[:20])
    text = value if isinstance(value, str) else (value[0] if value else "")
    # Cleaned as the form cleans the field (no NUL or other control characters: PostgreSQL
    # text cannot hold NUL), and kept a little past the limit so the form can say so.
    cleaned = clean_block(text) if field in BLOCKS else clean_text(text, 10_000)
    return cleaned[: LIMITS.get(field, DRAFT_LIMIT) + 1]


def _upsert_draft(owner: Owner, field: str, stored: str) -> None:
    stmt = upsert_insert(DraftField).values(
        owner_type=owner.kind, owner_id=owner.id, field=field, value=stored, updated_at=now()
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["owner_type", "owner_id", "field"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
        )
    )


def save_draft_field(owner: Owner, field: str, value: str | list[str]) -> None:
    """Keep one field of the owner's draft (a list for the checkbox groups)."""
    stored = _draft_value(field, value)
    with write_transaction():
        _upsert_draft(owner, field, stored)
        funnel.mark(owner, funnel.CHECKOUT)


def save_draft(owner: Owner, values: dict[str, str | list[str]]) -> None:
    """Keep every field of a submitted form in the draft, in one transaction (with Stripe the
    order waits for payment, and a buyer who cancels comes back to the form filled in)."""
    stored = {field: _draft_value(field, value) for field, value in values.items()}
    with write_transaction():
        for field, text in stored.items():
            _upsert_draft(owner, field, text)
        funnel.mark(owner, funnel.CHECKOUT)


def purge_anonymous_drafts(grace: timedelta = timedelta(hours=1)) -> int:
    """Drop the drafts of sessions that expired (a name and an email are not kept for a
    visitor who left). Customers' drafts stay. Returns how many fields were removed."""
    moment = now()
    live = select(SessionRecord.id).where(SessionRecord.expires_at > moment)
    with write_transaction():
        removed = db.session.execute(
            delete(DraftField).where(
                DraftField.owner_type == OwnerKind.VISIT,
                DraftField.owner_id.not_in(live),
                DraftField.updated_at < moment - grace,
            )
        ).rowcount
    return removed or 0


def load_draft(owner: Owner) -> dict[str, str | list[str]]:
    """The owner's draft, field by field (lists for the checkbox groups)."""
    rows = db.session.execute(
        select(DraftField.field, DraftField.value).where(*_owned(DraftField, owner))
    ).all()
    draft: dict[str, str | list[str]] = {}
    for field, value in rows:
        if field in MULTI:
            try:
                items = json.loads(value)
            except ValueError:
                items = []
            draft[field] = [str(item) for item in items] if isinstance(items, list) else []
        elif field in DRAFT_FIELDS:
            draft[field] = value
    return draft


def merge_draft(visitor: Owner, customer: Owner) -> int:
    """At sign-in, the visit's draft fields replace the customer's (they were typed last).
    Returns how many fields moved."""
    with write_transaction():
        moved = db.session.execute(
            delete(DraftField)
            .where(*_owned(DraftField, visitor))
            .returning(DraftField.field, DraftField.value, DraftField.updated_at)
        ).all()
        for field, value, updated_at in moved:
            stmt = upsert_insert(DraftField).values(
                owner_type=customer.kind,
                owner_id=customer.id,
                field=field,
                value=value,
                updated_at=updated_at,
            )
            db.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["owner_type", "owner_id", "field"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                )
            )
    return len(moved)


# ---------------------------------------------------------------- the bag as the page shows it


def fingerprint(lines: list[BagLine]) -> str:
    """A short hash of the bag as shown: offers, quantities, prices. If the bag changes
    between the page and the submit, the fingerprints differ."""
    parts = sorted(
        f"{line.offer_id}:{line.quantity}:{line.offer.price_cents}:{line.unit_price_cents}"
        for line in lines
    )
    return hashlib.sha256(";".join(parts).encode()).hexdigest()[:32]


def changed_prices(lines: list[BagLine]) -> list[BagLine]:
    """Lines whose offer costs something else now than when it went into the bag."""
    return [line for line in lines if line.price_changed]


def pending_order(owner: Owner) -> Order | None:
    """The owner's newest order still waiting for payment, if any."""
    return db.session.scalar(
        select(Order)
        .where(*_owned(Order, owner), Order.status == OrderStatus.PENDING_PAYMENT)
        .order_by(Order.id.desc())
        .limit(1)
    )


# ---------------------------------------------------------------- placing the order


@dataclass(frozen=True)
class Placed:
    """The order a checkout token placed, and whether this request placed it."""

    order: Order
    created: bool


def _by_token(token: str) -> Order | None:
    return db.session.scalar(select(Order).where(Order.checkout_token == token))


def _replayed(order: Order, owner: Owner, user_id: int | None) -> Placed:
    if (order.owner_type, order.owner_id) != (owner.kind, owner.id) and (
        user_id is None or order.user_id != user_id
    ):
        # Someone else's token: say nothing about their order.
        raise CheckoutError(
            ErrorKind.CONFLICT, "This form was already sent. Reload the checkout and try again."
        )
    return Placed(order, False)


def _finish(owner: Owner) -> None:
    """The checkout is over: the bag and the draft are done with (in the caller's write
    transaction)."""
    db.session.execute(delete(BagLine).where(*_owned(BagLine, owner)))
    db.session.execute(delete(DraftField).where(*_owned(DraftField, owner)))


def finish_paid(order: Order) -> None:
    """A Stripe order was just paid: its buyer's bag and draft, kept until then (a cancel on
    Stripe finds them), go now."""
    with write_transaction():
        _finish(Owner(OwnerKind(order.owner_type), order.owner_id))


def already_placed(owner: Owner, user_id: int | None, token: str) -> Order | None:
    """The order this checkout token already placed for this buyer (a double click or a
    replay), if any."""
    order = _by_token(token)
    if order is None:
        return None
    try:
        return _replayed(order, owner, user_id).order
    except CheckoutError:
        return None


def place_order(
    owner: Owner,
    user_id: int | None,
    context: dict,
    token: str,
    shown_fingerprint: str,
    accept_prices: bool,
    by_stripe: bool,
) -> Placed:
    """Turn the owner's bag into an order (see the module's docstring).

    Raises CheckoutError when the bag is empty, changed since the page showed it, holds an
    offer no longer sold, or has prices that changed and were not accepted.
    """
    try:
        with write_transaction():
            existing = _by_token(token)
            if existing is not None:
                return _replayed(existing, owner, user_id)
            lines = bag_services.bag_lines(owner)
            if not lines or fingerprint(lines) != shown_fingerprint:
                # On PostgreSQL another request with this token may have placed the order
                # (and emptied the bag) since the lookup above: each statement sees what
                # was committed before it, so look again before calling the bag changed.
                existing = _by_token(token)
                if existing is not None:
                    return _replayed(existing, owner, user_id)
            if not lines:
                raise CheckoutError(
                    ErrorKind.CONFLICT, "Your bag is empty, so there is nothing to order."
                )
            if fingerprint(lines) != shown_fingerprint:
                raise CheckoutError(
                    ErrorKind.CONFLICT,
                    "Your bag changed while this page was open. Check it below and send the "
                    "form again.",
                )
            gone = [line.offer.title for line in lines if not line.offer.active]
            if gone:
                raise CheckoutError(
                    ErrorKind.CONFLICT,
                    f"{', '.join(gone)} can no longer be ordered. Remove it from your bag.",
                )
            if changed_prices(lines) and not accept_prices:
                raise CheckoutError(
                    ErrorKind.CONFLICT,
                    "Some prices changed since you added the offers. Check them and accept "
                    "the new prices to place the order.",
                    "confirm_prices",
                )
            currencies = {line.offer.currency for line in lines}
            if len(currencies) != 1:
                raise CheckoutError(ErrorKind.CONFLICT, "Order offers of one currency at a time.")
            moment = now()
            funnel.mark(owner, funnel.CHECKOUT)  # a form sent without a draft saved first
            order = Order(
                reference=orders.new_reference(),
                checkout_token=token,
                owner_type=owner.kind,
                owner_id=owner.id,
                user_id=user_id,
                status=OrderStatus.PENDING_PAYMENT if by_stripe else OrderStatus.SUBMITTED,
                name=context["name"],
                email=context["email"],
                company=context["company"],
                role=context["role"],
                hosting=context["hosting"],
                hosting_other=context["hosting_other"],
                traffic_amount=context["traffic_amount"],
                traffic_unit=context["traffic_unit"],
                stateful=context["stateful"],
                files=context["files"],
                compliance_json=json.dumps(context["compliance"]),
                compliance_notes=context["compliance_notes"],
                cloudflare_json=json.dumps(context["cloudflare"]),
                notes=context["notes"],
                billing_name=context.get("billing_name", ""),
                billing_address=context.get("billing_address", ""),
                vat_id=context.get("vat_id", ""),
                po_number=context.get("po_number", ""),
                total_cents=sum(line.offer.price_cents * line.quantity for line in lines),
                currency=currencies.pop(),
                payment_attempt=0,
                created_at=moment,
                updated_at=moment,
            )
            order.lines = [
                OrderLine(
                    offer_id=line.offer_id,
                    slug=line.offer.slug,
                    title=line.offer.title,
                    unit_price_cents=line.offer.price_cents,
                    currency=line.offer.currency,
                    quantity=line.quantity,
                )
                for line in lines
            ]
            db.session.add(order)
            db.session.flush()  # a token placed at the same moment fails here, not later
            orders.placed_event(order, moment)
            if not by_stripe:
                # Invoice mode: the order is final, the bag and the draft are done with.
                # (With Stripe they stay until the payment arrives: finish_paid.)
                _finish(owner)
            return Placed(order, True)
    except IntegrityError:
        # The same token placed at the same moment by another request (PostgreSQL; on
        # SQLite the write lock makes the second one find it above): that order it is.
        existing = _by_token(token)
        if existing is None:
            raise
        return _replayed(existing, owner, user_id)
