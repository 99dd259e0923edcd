"""The owner's mail about new and paid orders, summed up when orders come in a burst.

Anyone can place an order, and each order mails the owner. Up to ``RATELIMIT_OWNER_MAIL``
notifications go out one per order; past it, the first order held back sends one short
mail saying that notifications are held (at most once per ``RATELIMIT_OWNER_MAIL_NOTICE``),
and the orders held back are named in the next notification that goes out, or by
``flask orders notify`` (run it from cron every few minutes). Every order shows in the
admin at once either way. The counts live in the rate limits' storage (``shop.throttle``),
so they hold across the workers; which orders were named lives on the order
(``owner_notified_at``).
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select, update

from shop import mail, throttle
from shop.db import write_transaction
from shop.extensions import db
from shop.orders.models import Order
from shop.urls import absolute_url

log = logging.getLogger(__name__)

HELD_SHOWN = 50  # most held orders named in one mail (the admin lists them all)
_MAILS = [("RATELIMIT_OWNER_MAIL", "owner-mail/sent")]
_NOTICES = [("RATELIMIT_OWNER_MAIL_NOTICE", "owner-mail/held-notice")]


def owner_address() -> str:
    """Where the owner's notifications go: ``ORDERS_EMAIL``, else the sender address."""
    return current_app.config.get("ORDERS_EMAIL") or current_app.config["MAIL_FROM"]


def _held(exclude: int | None = None) -> list[Order]:
    query = select(Order).where(Order.owner_notified_at.is_(None))
    if exclude is not None:
        query = query.where(Order.id != exclude)
    return list(db.session.scalars(query.order_by(Order.id).limit(HELD_SHOWN)))


def _mark_notified(orders: list[Order], moment) -> None:
    ids = [order.id for order in orders]
    with write_transaction():
        db.session.execute(update(Order).where(Order.id.in_(ids)).values(owner_notified_at=moment))


def notify_owner(order: Order, event: str, moment) -> None:
    """Mail the owner about ``order`` ("placed" or "paid"), with any orders held back before;
    in a burst, hold it back instead (see the module's docstring)."""
    if throttle.take(_MAILS) is not None:
        if throttle.take(_NOTICES) is None:
            mail.send_later(
                mail.compose(
                    owner_address(),
                    "Orders are arriving fast: notifications held",
                    "orders_held",
                    order=order,
                    orders_link=absolute_url("orders_admin.list_orders"),
                )
            )
        log.info("owner notification of order %s held back (a burst)", order.reference)
        return
    held = _held(exclude=order.id)
    message = mail.compose(
        owner_address(),
        f"New order {order.reference} ({order.status_label})",
        "order_owner",
        order=order,
        event=event,
        held=held,
        admin_link=absolute_url("orders_admin.show", reference=order.reference),
        orders_link=absolute_url("orders_admin.list_orders"),
    )
    # The owner answers the buyer by replying (the address was checked at checkout).
    message["Reply-To"] = order.email
    mail.send_later(message)
    _mark_notified([order, *held], moment)


def send_held(moment) -> int:
    """Name every order whose notification was held in one mail; returns how many."""
    held = _held()
    if not held:
        return 0
    mail.send(
        mail.compose(
            owner_address(),
            f"{len(held)} order{'s' if len(held) != 1 else ''} placed while notifications "
            "were held",
            "order_owner",
            order=None,
            event=None,
            held=held,
            admin_link=None,
            orders_link=absolute_url("orders_admin.list_orders"),
        )
    )
    _mark_notified(held, moment)
    return len(held)
