"""The first two steps a buyer reaches on the way to an order, kept once per owner with the
time each was first reached: the dashboard's funnel counts them (shop/dashboard/stats.py).

A bag line, a checkout draft and a visit's session are deleted once an order is placed or
the visit ends, so the funnel cannot be counted from them afterwards; these rows stay. They
hold no personal data beyond the owner's key (a session key's hash, or a customer's id) and
two times. The later steps (an order placed, paid, its call booked) are the orders' and
calls' own rows. Bag and checkout mark their steps inside their own write transactions; at
sign-in the visit's row moves to the customer (``carry``), as its bag does.

One row per owner, a column per step: the dashboard counts a period's owners and how many
of them went on with one range scan of one index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, bindparam, case, delete, func
from sqlalchemy.orm import Mapped, mapped_column

from shop.clock import now
from shop.db import built_once, upsert_insert
from shop.domain import Owner
from shop.extensions import db

BAG = "bag"  # put something in the bag
CHECKOUT = "checkout"  # started the checkout: a draft saved, or an order placed


class FunnelOwner(db.Model):
    """When an owner first put something in the bag, and first started the checkout."""

    __tablename__ = "funnel"
    __table_args__ = (
        Index("ix_funnel_bag_at_checkout_at", "bag_at", "checkout_at"),
        # On SQLite the rows live in their key's order (no rowid), and the index above
        # holds the key too: the dashboard's counts and lookups never visit the table.
        {"sqlite_with_rowid": False},
    )

    owner_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    bag_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checkout_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _build_mark(column: str) -> Any:
    table = FunnelOwner.__table__
    insert = upsert_insert(FunnelOwner).values(
        owner_type=bindparam("p_kind"),
        owner_id=bindparam("p_owner"),
        **{column: bindparam("p_moment", type_=table.c[column].type)},
    )
    return insert.on_conflict_do_update(
        index_elements=["owner_type", "owner_id"],
        set_={column: func.coalesce(table.c[column], insert.excluded[column])},
    )


def _build_bag() -> Any:
    return _build_mark("bag_at")


def _build_checkout() -> Any:
    return _build_mark("checkout_at")


_BUILDERS = {BAG: _build_bag, CHECKOUT: _build_checkout}


def mark(owner: Owner, step: str) -> None:
    """In the caller's write transaction: ``owner`` reached ``step`` (the first time stays)."""
    db.session.connection().execute(
        built_once(_BUILDERS[step]), {"p_kind": owner.kind, "p_owner": owner.id, "p_moment": now()}
    )


def _earlier(existing, arriving):
    """The earlier of two times, either of which may be missing."""
    return case(
        (existing.is_(None), arriving),
        (arriving.is_(None), existing),
        (arriving < existing, arriving),
        else_=existing,
    )


def carry(visitor: Owner, customer: Owner) -> None:
    """In the caller's write transaction: the visit's steps become the customer's (the
    earlier time of each step stays), so one buyer is counted once."""
    moved = db.session.execute(
        delete(FunnelOwner)
        .where(FunnelOwner.owner_type == visitor.kind, FunnelOwner.owner_id == visitor.id)
        .returning(FunnelOwner.bag_at, FunnelOwner.checkout_at)
    ).first()
    if moved is None:
        return
    table = FunnelOwner.__table__
    insert = upsert_insert(FunnelOwner).values(
        owner_type=customer.kind,
        owner_id=customer.id,
        bag_at=moved.bag_at,
        checkout_at=moved.checkout_at,
    )
    db.session.execute(
        insert.on_conflict_do_update(
            index_elements=["owner_type", "owner_id"],
            set_={
                "bag_at": _earlier(table.c.bag_at, insert.excluded.bag_at),
                "checkout_at": _earlier(table.c.checkout_at, insert.excluded.checkout_at),
            },
        )
    )
