"""Bag and wishlist changes, each one atomic statement inside one write transaction.

Quantities change with ``INSERT … ON CONFLICT … DO UPDATE SET quantity = quantity + n``
(capped at the maximum) so two quick clicks or two tabs can never overwrite each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    case,
    cast,
    delete,
    func,
    null,
    select,
    union_all,
    update,
)

from shop import funnel
from shop.bag.models import MAX_QUANTITY, BagLine, UsedFormToken, WishlistItem
from shop.catalog.models import Offer
from shop.catalog.services import get_offer
from shop.clock import now
from shop.db import built_once, upsert_insert, write_transaction
from shop.domain import DomainError, ErrorKind, Owner, OwnerKind
from shop.extensions import db
from shop.sessions import SessionRecord, read_along


class BagError(DomainError):
    """A change to the bag or wishlist that cannot be made (MISSING: the offer, line or item
    is not there); the view maps the kind to an HTTP status."""


@dataclass(frozen=True)
class Added:
    """What an add did: the offer, the line's quantity now, and whether the cap applied;
    ``repeated``: it was the repeat of an add just made, and changed nothing."""

    offer: Offer
    quantity: int
    requested: int
    clamped: bool
    repeated: bool = False


def _owned(model, owner: Owner):
    return (model.owner_type == owner.kind, model.owner_id == owner.id)


def _offer_or_404(slug: str) -> Offer:
    offer = get_offer(slug, tags=False)
    if offer is None:
        raise BagError(ErrorKind.MISSING, "That offer is not available.")
    return offer


def _core(statement: Any, parameters: dict[str, Any]) -> Any:
    # The hot statements below return plain values, not objects: run on the request's
    # connection (its transaction) without the ORM's layer of statement handling.
    return db.session.connection().execute(statement, parameters)


# A form sent again with the same token within this time is the same click (a double click,
# a retry) and changes nothing; later it is a person pressing the button of a page they see
# again (Back, a restored tab), and counts as a new add.
REPEAT_WINDOW = timedelta(seconds=5)


def _spend_token(token: str) -> bool:
    """Record the form token. False: it was spent moments ago, so this is a repeat of that
    request, which must not change the bag a second time."""
    moment = now()
    spent = {"p_token": token, "p_moment": moment, "p_cutoff": moment - REPEAT_WINDOW}
    return _core(built_once(_build_spend), spent).scalar() is not None


_PREVIOUS = select(BagLine.quantity).where(
    BagLine.owner_type == bindparam("p_kind"),
    BagLine.owner_id == bindparam("p_owner"),
    BagLine.offer_id == bindparam("p_offer"),
)


def _build_add() -> Any:
    # Parameter names differ from the columns': an INSERT reserves those for its values.
    columns = BagLine.__table__.c
    moment = bindparam("p_moment", type_=columns.added_at.type)
    insert = upsert_insert(BagLine).values(
        owner_type=bindparam("p_kind"),
        owner_id=bindparam("p_owner"),
        offer_id=bindparam("p_offer"),
        quantity=bindparam("p_quantity", type_=columns.quantity.type),
        unit_price_cents=bindparam("p_price", type_=columns.unit_price_cents.type),
        currency=bindparam("p_currency"),
        added_at=moment,
        updated_at=moment,
    )
    total = BagLine.quantity + insert.excluded.quantity
    return insert.on_conflict_do_update(
        index_elements=["owner_type", "owner_id", "offer_id"],
        set_={
            "quantity": case((total > MAX_QUANTITY, MAX_QUANTITY), else_=total),
            "updated_at": insert.excluded.updated_at,
        },
    ).returning(BagLine.quantity)


def _build_spend() -> Any:
    # Inserted, or taken again when it was spent before the window: a row comes back; a
    # repeat within the window returns none.
    columns = UsedFormToken.__table__.c
    insert = upsert_insert(UsedFormToken).values(
        token=bindparam("p_token"), used_at=bindparam("p_moment", type_=columns.used_at.type)
    )
    return insert.on_conflict_do_update(
        index_elements=["token"],
        set_={"used_at": insert.excluded.used_at},
        where=columns.used_at < bindparam("p_cutoff", type_=columns.used_at.type),
    ).returning(UsedFormToken.token)


def _add(owner: Owner, offer: Offer, quantity: int) -> Added:
    line = {"p_kind": owner.kind, "p_owner": owner.id, "p_offer": offer.id}
    previous = _core(_PREVIOUS, line).scalar()
    values = {
        **line,
        "p_quantity": quantity,
        "p_price": offer.price_cents,
        "p_currency": offer.currency,
        "p_moment": now(),
    }
    now_quantity = _core(built_once(_build_add), values).scalar_one()
    funnel.mark(owner, funnel.BAG)
    # The statement above is what keeps the quantity right under concurrency; the
    # previous quantity only words the message (exact on SQLite, whose write lock is held).
    clamped = (previous or 0) + quantity > MAX_QUANTITY
    return Added(offer, now_quantity, quantity, clamped)


def add_to_bag(owner: Owner, slug: str, quantity: int, token: str) -> Added:
    """Add ``quantity`` of the offer to the bag (capped at MAX_QUANTITY per line)."""
    with write_transaction():
        offer = _offer_or_404(slug)
        if not _spend_token(token):
            return _unchanged(owner, offer)
        added = _add(owner, offer, quantity)
    return added


def _unchanged(owner: Owner, offer: Offer) -> Added:
    line = {"p_kind": owner.kind, "p_owner": owner.id, "p_offer": offer.id}
    quantity = _core(_PREVIOUS, line).scalar() or 0
    return Added(offer, quantity, 0, False, repeated=True)


def set_quantity(owner: Owner, line_id: int, quantity: int) -> BagLine:
    """Set a line of this owner's bag to ``quantity``."""
    with write_transaction():
        result = db.session.execute(
            update(BagLine)
            .where(BagLine.id == line_id, *_owned(BagLine, owner))
            .values(quantity=quantity, updated_at=now())
        )
        if result.rowcount == 0:
            raise BagError(ErrorKind.MISSING, "That line is not in your bag.")
    return db.session.get(BagLine, line_id)


def remove_line(owner: Owner, line_id: int) -> Offer:
    """Remove a line of this owner's bag; returns its offer."""
    with write_transaction():
        line = db.session.scalar(
            select(BagLine).where(BagLine.id == line_id, *_owned(BagLine, owner))
        )
        if line is None:
            raise BagError(ErrorKind.MISSING, "That line is not in your bag.")
        offer = line.offer
        db.session.delete(line)
    return offer


def clear_bag(owner: Owner) -> int:
    """Empty the bag; returns how many lines were removed."""
    with write_transaction():
        removed = db.session.execute(delete(BagLine).where(*_owned(BagLine, owner))).rowcount
    return removed or 0


def set_wishlist(owner: Owner, slug: str, saved: bool) -> Offer:
    """Save the offer to the wishlist, or take it out (idempotent either way)."""
    with write_transaction():
        offer = _offer_or_404(slug)
        if saved:
            stmt = upsert_insert(WishlistItem).values(
                owner_type=owner.kind, owner_id=owner.id, offer_id=offer.id, added_at=now()
            )
            db.session.execute(
                stmt.on_conflict_do_nothing(index_elements=["owner_type", "owner_id", "offer_id"])
            )
        else:
            db.session.execute(
                delete(WishlistItem).where(
                    *_owned(WishlistItem, owner), WishlistItem.offer_id == offer.id
                )
            )
    return offer


def move_to_bag(owner: Owner, slug: str, token: str) -> Added:
    """Take the offer out of the wishlist and add one to the bag, together."""
    with write_transaction():
        offer = _offer_or_404(slug)
        if not _spend_token(token):
            return _unchanged(owner, offer)
        removed = db.session.execute(
            delete(WishlistItem).where(
                *_owned(WishlistItem, owner), WishlistItem.offer_id == offer.id
            )
        ).rowcount
        if not removed:
            raise BagError(ErrorKind.MISSING, "That offer is not in your wishlist.")
        added = _add(owner, offer, 1)
    return added


def refill(owner: Owner, items: list[tuple[str, int]]) -> int:
    """Fill an empty bag with ``items`` (offer slug, quantity), as a checkout page sent them
    back after its session was lost; offers no longer sold are left out. A bag that holds
    anything is left as it is. Returns how many lines were added."""
    added = 0
    with write_transaction():
        if _core(_ANY_LINE, {"p_kind": owner.kind, "p_owner": owner.id}).first() is not None:
            return 0
        for slug, quantity in items[:MAX_LINES]:
            offer = get_offer(slug, tags=False)
            if offer is not None:
                _add(owner, offer, max(1, min(quantity, MAX_QUANTITY)))
                added += 1
    return added


_ANY_LINE = (
    select(BagLine.id)
    .where(BagLine.owner_type == bindparam("p_kind"), BagLine.owner_id == bindparam("p_owner"))
    .limit(1)
)
MAX_LINES = 50  # more lines than a checkout page of this shop can hold


@dataclass(frozen=True)
class Merged:
    """What joining a visitor's bag and wishlist to a customer's did."""

    bag_lines: int  # offers of the visit's bag now in the customer's bag (added or raised)
    clamped: int  # of those, lines whose quantities together passed the maximum
    wishlist: int  # offers of the visit's wishlist new to the customer's wishlist


def merge(visitor: Owner, customer: Owner) -> Merged:
    """Move the visitor's bag and wishlist into the customer's, in one write transaction.

    Quantities of an offer in both bags add up (to MAX_QUANTITY at most); the wishlists
    join. The visitor's rows are deleted first, with RETURNING, and only what that delete
    returned is added: a second sign-in running at the same time (a double submit) finds
    the rows gone, so nothing is counted twice. The customer's line keeps its own unit price
    when both bags hold the offer.
    """
    with write_transaction():
        moved = db.session.execute(
            delete(BagLine)
            .where(*_owned(BagLine, visitor))
            .returning(
                BagLine.offer_id,
                BagLine.quantity,
                BagLine.unit_price_cents,
                BagLine.currency,
                BagLine.added_at,
            )
        ).all()
        held = dict(
            db.session.execute(
                select(BagLine.offer_id, BagLine.quantity).where(
                    *_owned(BagLine, customer),
                    BagLine.offer_id.in_([row.offer_id for row in moved]),
                )
            ).all()
        )
        moment = now()
        for row in moved:
            stmt = upsert_insert(BagLine).values(
                owner_type=customer.kind,
                owner_id=customer.id,
                offer_id=row.offer_id,
                quantity=row.quantity,
                unit_price_cents=row.unit_price_cents,
                currency=row.currency,
                added_at=row.added_at,
                updated_at=moment,
            )
            total = BagLine.quantity + stmt.excluded.quantity
            db.session.execute(
                stmt.on_conflict_do_update(
                    index_elements=["owner_type", "owner_id", "offer_id"],
                    set_={
                        "quantity": case((total > MAX_QUANTITY, MAX_QUANTITY), else_=total),
                        "updated_at": stmt.excluded.updated_at,
                    },
                )
            )
        clamped = sum(1 for row in moved if held.get(row.offer_id, 0) + row.quantity > MAX_QUANTITY)
        funnel.carry(visitor, customer)

        wished = db.session.scalars(
            delete(WishlistItem)
            .where(*_owned(WishlistItem, visitor))
            .returning(WishlistItem.offer_id)
        ).all()
        new_wishes = 0
        for offer_id in wished:
            stmt = upsert_insert(WishlistItem).values(
                owner_type=customer.kind, owner_id=customer.id, offer_id=offer_id, added_at=moment
            )
            inserted = db.session.execute(
                stmt.on_conflict_do_nothing(
                    index_elements=["owner_type", "owner_id", "offer_id"]
                ).returning(WishlistItem.id)
            ).scalar()
            new_wishes += inserted is not None
    return Merged(len(moved), clamped, new_wishes)


# ---------------------------------------------------------------- reads


@dataclass(frozen=True)
class Counts:
    """What the header counters show: the bag's total quantity (3 of one offer count 3) and
    how many offers the wishlist holds."""

    bag_quantity: int
    wishlist_offers: int


_KIND, _ID = bindparam("kind"), bindparam("id")
# One row with the bag's total quantity (offer_id NULL), then a row per wishlisted offer.
_STATE = union_all(
    select(
        cast(null(), Integer).label("offer_id"),
        func.coalesce(func.sum(BagLine.quantity), 0).label("quantity"),
    ).where(BagLine.owner_type == _KIND, BagLine.owner_id == _ID),
    select(WishlistItem.offer_id, cast(null(), Integer)).where(
        WishlistItem.owner_type == _KIND, WishlistItem.owner_id == _ID
    ),
)


@read_along
def _state_along(kind: Any, owner_id: Any) -> list[Any]:
    """The bag's quantity and the wishlisted ids (text, comma-separated) of the session
    row's owner, read with the session (shop.sessions.read_along)."""
    quantity = select(func.coalesce(func.sum(BagLine.quantity), 0)).where(
        BagLine.owner_type == kind, BagLine.owner_id == owner_id
    )
    wished = select(func.aggregate_strings(cast(WishlistItem.offer_id, String), ",")).where(
        WishlistItem.owner_type == kind, WishlistItem.owner_id == owner_id
    )
    return [
        quantity.scalar_subquery().label("bag_quantity"),
        wished.scalar_subquery().label("wishlist_ids"),
    ]


def state_read_along(along: dict[str, Any]) -> tuple[Counts, frozenset[int]]:
    """``visitor_state`` from what the session's read brought along (``_state_along``)."""
    wished = frozenset(int(part) for part in (along["wishlist_ids"] or "").split(",") if part)
    return Counts(int(along["bag_quantity"]), len(wished)), wished


def visitor_state(owner: Owner) -> tuple[Counts, frozenset[int]]:
    """The header counters and the wishlisted offers' ids, in one statement (every page
    with offer cards needs both)."""
    rows = _core(_STATE, {"kind": owner.kind, "id": owner.id}).all()
    bag = sum(int(quantity) for offer_id, quantity in rows if offer_id is None)
    wished = frozenset(offer_id for offer_id, _ in rows if offer_id is not None)
    return Counts(bag, len(wished)), wished


def counts(owner: Owner) -> Counts:
    """Sum of bag quantities and number of wishlist items (see ``visitor_state``)."""
    return visitor_state(owner)[0]


def bag_lines(owner: Owner) -> list[BagLine]:
    """The bag's lines, oldest first."""
    return list(
        db.session.scalars(
            select(BagLine).where(*_owned(BagLine, owner)).order_by(BagLine.added_at, BagLine.id)
        )
    )


def wishlist_items(owner: Owner) -> list[WishlistItem]:
    """The wishlist, newest first."""
    return list(
        db.session.scalars(
            select(WishlistItem)
            .where(*_owned(WishlistItem, owner))
            .order_by(WishlistItem.added_at.desc(), WishlistItem.id.desc())
        )
    )


def subtotal_cents(lines: list[BagLine]) -> int:
    """Sum of the line totals."""
    return sum(line.line_total_cents for line in lines)


# ---------------------------------------------------------------- housekeeping


def purge_anonymous(grace: timedelta = timedelta(hours=1)) -> int:
    """Remove bags and wishlists of sessions that expired or never got stored.

    Lines younger than ``grace`` are kept: their session row may still be on its way.
    Customers' bags are never touched. Returns how many rows were removed.
    """
    moment = now()
    live = select(SessionRecord.id).where(SessionRecord.expires_at > moment)
    removed = 0
    with write_transaction():
        for model, stamp in ((BagLine, BagLine.updated_at), (WishlistItem, WishlistItem.added_at)):
            removed += (
                db.session.execute(
                    delete(model).where(
                        model.owner_type == OwnerKind.VISIT,
                        model.owner_id.not_in(live),
                        stamp < moment - grace,
                    )
                ).rowcount
                or 0
            )
        db.session.execute(delete(UsedFormToken).where(UsedFormToken.used_at < moment - grace * 24))
    return removed
