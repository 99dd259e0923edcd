"""The steps a buyer reaches on the way to an order, each kept once per owner with the time
it was first reached: the dashboard's funnel counts them (shop/dashboard/stats.py).

A bag line, a checkout draft and a visit's session are deleted once an order is placed or
the visit ends, so the funnel cannot be counted from them afterwards; these rows stay. They
hold no personal data beyond the owner's key (a session key's hash, or a customer's id) and
a time. The later steps (an order placed, paid, its call booked) are the orders' and calls'
own rows. Bag and checkout mark their steps inside their own write transactions; at sign-in
the visit's steps move to the customer (``carry``), as its bag does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, bindparam, case, delete
from sqlalchemy.orm import Mapped, mapped_column

from shop.clock import now
from shop.db import built_once, upsert_insert
from shop.domain import Owner
from shop.extensions import db

BAG = "bag"  # put something in the bag
CHECKOUT = "checkout"  # started the checkout: a draft saved, or an order placed


class FunnelStep(db.Model):
    """An owner reached ``step`` first at ``reached_at``."""

    __tablename__ = "funnel_steps"
    __table_args__ = (
        Index("ix_funnel_steps_step_reached_at", "step", "reached_at"),
        # On SQLite the rows live in their primary key's order (no rowid): a lookup by
        # owner and step finds the time in the key's own page, and the index above holds
        # the owner too, so the dashboard's counts never visit the table (bench/dashboard.py).
        {"sqlite_with_rowid": False},
    )

    owner_type: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    step: Mapped[str] = mapped_column(String(10), primary_key=True)
    reached_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _build_mark() -> Any:
    insert = upsert_insert(FunnelStep).values(
        owner_type=bindparam("p_kind"),
        owner_id=bindparam("p_owner"),
        step=bindparam("p_step"),
        reached_at=bindparam("p_moment", type_=FunnelStep.__table__.c.reached_at.type),
    )
    return insert.on_conflict_do_nothing(index_elements=["owner_type", "owner_id", "step"])


def mark(owner: Owner, step: str) -> None:
    """In the caller's write transaction: ``owner`` reached ``step`` (the first time stays)."""
    db.session.connection().execute(
        built_once(_build_mark),
        {"p_kind": owner.kind, "p_owner": owner.id, "p_step": step, "p_moment": now()},
    )


def carry(visitor: Owner, customer: Owner) -> None:
    """In the caller's write transaction: the visit's steps become the customer's (the
    earlier time of each step stays), so one buyer is counted once."""
    moved = db.session.execute(
        delete(FunnelStep)
        .where(FunnelStep.owner_type == visitor.kind, FunnelStep.owner_id == visitor.id)
        .returning(FunnelStep.step, FunnelStep.reached_at)
    ).all()
    for step, reached_at in moved:
        insert = upsert_insert(FunnelStep).values(
            owner_type=customer.kind, owner_id=customer.id, step=step, reached_at=reached_at
        )
        earlier = case(
            (insert.excluded.reached_at < FunnelStep.reached_at, insert.excluded.reached_at),
            else_=FunnelStep.reached_at,
        )
        db.session.execute(
            insert.on_conflict_do_update(
                index_elements=["owner_type", "owner_id", "step"], set_={"reached_at": earlier}
            )
        )
