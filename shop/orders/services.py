"""Orders: references, access links, status changes, and the mail they send.

An order's page is open to its owner: the signed-in customer it belongs to, or whoever holds
its link, which carries a key derived from the reference with the app's secret (HMAC), so
the key is never stored and a replayed checkout can give the same link again.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime, timedelta

from blinker import Namespace
from flask import current_app, url_for
from sqlalchemy import select, update

from shop import mail
from shop.clock import now
from shop.db import write_transaction
from shop.domain import OwnerKind
from shop.extensions import db
from shop.orders import invoices, notifications
from shop.orders.models import (
    ADMIN_TRANSITIONS,
    STATUS_LABELS,
    STATUS_NEWS,
    SYSTEM_TRANSITIONS,
    Order,
    OrderEvent,
    OrderStatus,
)
from shop.urls import absolute_url

log = logging.getLogger(__name__)

# What the other domains may follow without orders knowing them: ``status_changed`` is sent
# (with ``before``, ``to`` and ``user_id``) after an administrator's change is committed.
signals = Namespace()
status_changed = signals.signal("order-status-changed")

# Crockford's base32 without I, L, O, U: nothing to misread over the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PENDING_FOR = timedelta(hours=24)  # then a pending_payment order expires
_REFERENCE_RE = re.compile(rf"^EG-[{_ALPHABET}]{{4}}-[{_ALPHABET}]{{4}}$")
_SESSION_ID_RE = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")  # Stripe's Checkout Session ids


def new_reference() -> str:
    """A fresh reference such as EG-7K3Q-9XPM: 40 random bits, not guessable."""
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    return f"EG-{chars[:4]}-{chars[4:]}"


def access_key(reference: str) -> str:
    """The key in a visitor's link to the order ``reference``."""
    secret = str(current_app.secret_key).encode()
    digest = hmac.new(secret, b"order:" + reference.encode(), hashlib.sha256).hexdigest()
    return digest[:32]


def key_matches(reference: str, key: str | None) -> bool:
    """Whether ``key`` opens the order ``reference``."""
    return bool(key) and hmac.compare_digest(access_key(reference), str(key)[:64])


def order_url(order: Order, external: bool = False) -> str:
    """The order's page, with the key that opens it to whoever holds the link (absolute, on
    the public origin, for mail)."""
    build = absolute_url if external else url_for
    return build("orders.show_order", reference=order.reference, key=access_key(order.reference))


def invoice_url(order: Order) -> str | None:
    """The absolute address of the order's invoice (with the order's key), if it has one."""
    if order.invoice is None:
        return None
    return absolute_url(
        "orders.show_invoice", reference=order.reference, key=access_key(order.reference)
    )


def get_order(reference: str) -> Order | None:
    """The order with this reference (any case), if any."""
    if not reference or not _REFERENCE_RE.match(reference.upper()):
        return None  # nothing else is a reference (and a NUL never reaches the database)
    return db.session.scalar(select(Order).where(Order.reference == reference.upper()))


def find_by_session(session_id: str) -> Order | None:
    """The order whose Stripe Checkout Session this is, if any."""
    if not session_id or not _SESSION_ID_RE.match(session_id):
        return None
    return db.session.scalar(select(Order).where(Order.stripe_session_id == session_id))


def orders_of_user(user_id: int) -> list[Order]:
    """A customer's orders, newest first."""
    return list(
        db.session.scalars(select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()))
    )


# Where a payment arriving from Stripe may find an order.
_PAYABLE = tuple(status for status, to in SYSTEM_TRANSITIONS.items() if OrderStatus.PAID in to)


class StatusError(Exception):
    """A status change that the order's life does not allow, or that came too late."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _event(order: Order, moment: datetime, actor: str, to: str | None, **values) -> OrderEvent:
    values.setdefault("note", "")
    event = OrderEvent(order_id=order.id, created_at=moment, actor=actor, to_status=to, **values)
    db.session.add(event)
    return event


def placed_event(order: Order, moment: datetime) -> OrderEvent:
    """The first step of a new order's history (added in the placing transaction)."""
    return _event(order, moment, "buyer", order.status)


def mark_paid(order_id: int) -> bool:
    """Mark the order paid, once: True only for the call that made the change.

    One conditional UPDATE decides, so a webhook and the success page running at the same
    time cannot both act. The one that wins issues the (paid) invoice and sends the mail
    (and its caller lets checkout empty the bag and the draft). An order that expired
    before the payment arrived is paid all the same.
    """
    moment = now()
    with write_transaction():
        before = db.session.scalar(select(Order.status).where(Order.id == order_id))
        changed = db.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status.in_(_PAYABLE))
            .values(status=OrderStatus.PAID, paid_at=moment, updated_at=moment)
        ).rowcount
        if not changed:
            if before == OrderStatus.CANCELLED:
                # Money for an order the shop cancelled: someone must refund or reopen it.
                log.warning("order %s is cancelled but Stripe reports it paid", order_id)
            return False
        order = db.session.get(Order, order_id)
        _event(order, moment, "stripe", OrderStatus.PAID, from_status=before)
        invoices.issue(order, moment)
    db.session.refresh(order)
    send_order_mail(order, "paid")
    return True


def _expire(condition, moment: datetime) -> list[int]:
    with write_transaction():
        expired = list(
            db.session.scalars(
                update(Order)
                .where(Order.status == OrderStatus.PENDING_PAYMENT, condition)
                .values(status=OrderStatus.EXPIRED, updated_at=moment)
                .returning(Order.id)
                .execution_options(synchronize_session=False)
            )
        )
        for order_id in expired:
            db.session.add(
                OrderEvent(
                    order_id=order_id,
                    created_at=moment,
                    actor="shop",
                    from_status=OrderStatus.PENDING_PAYMENT,
                    to_status=OrderStatus.EXPIRED,
                    note="",
                )
            )
    return expired


def mark_expired(order_id: int) -> bool:
    """Stripe says the order's Checkout Session expired: a pending order expires too."""
    return bool(_expire(Order.id == order_id, now()))


def expire_pending(older_than: timedelta = PENDING_FOR) -> int:
    """Orders waiting for payment longer than ``older_than`` expire; returns how many."""
    moment = now()
    return len(_expire(Order.created_at < moment - older_than, moment))


def change_status(
    order: Order, to: str, *, user_id: int, note: str = "", mail_buyer: bool = False
) -> OrderEvent:
    """An administrator moves ``order`` to ``to``, if its life allows that from where it is
    (``ADMIN_TRANSITIONS``); the change, who made it and the note go into its history.
    "invoiced" issues the invoice and mails it to the buyer. Raises StatusError when the
    move is not allowed, or when the order changed meanwhile (another tab, a payment)."""
    current = order.status
    if to == current:
        raise StatusError(f"Order {order.reference} is already {STATUS_LABELS[current]}.")
    allowed = ADMIN_TRANSITIONS.get(current, ())
    if to not in allowed:
        choices = ", ".join(STATUS_LABELS[status] for status in allowed) or "nothing else"
        raise StatusError(
            f"An order that is {STATUS_LABELS[current]} cannot become "
            f"{STATUS_LABELS.get(to, 'that')}. From here it can become: {choices}."
        )
    # An invoice issued must reach the buyer: moving to "invoiced" always mails it.
    mail_buyer = mail_buyer or to == OrderStatus.INVOICED
    moment = now()
    values: dict = {"status": to, "updated_at": moment}
    if to == OrderStatus.PAID and order.paid_at is None:
        values["paid_at"] = moment
    order_id = order.id
    with write_transaction():
        changed = db.session.execute(
            update(Order)
            .where(Order.id == order_id, Order.status == current)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not changed:
            raise StatusError(
                f"Order {order.reference} changed meanwhile: look at its status again."
            )
        event = _event(
            order,
            moment,
            "admin",
            to,
            from_status=current,
            user_id=user_id,
            note=note,
            mailed_buyer=mail_buyer,
        )
        if to == OrderStatus.INVOICED:
            invoices.issue(order, moment)
    db.session.refresh(order)
    log.info("order %s: %s -> %s by administrator %s", order.reference, current, to, user_id)
    if mail_buyer:
        send_status_mail(order)
    status_changed.send(order, before=current, to=to, user_id=user_id)
    return event


def add_note(order: Order, note: str, *, user_id: int) -> OrderEvent:
    """An administrator's internal note on the order (never shown to the buyer)."""
    with write_transaction():
        event = _event(order, now(), "admin", None, user_id=user_id, note=note)
    return event


def send_status_mail(order: Order) -> None:
    """Tell the buyer the order's new status and what it means (in the background)."""
    try:
        invoice_link = invoice_url(order)
        mail.send_later(
            mail.compose(
                order.email,
                f"Your order {order.reference}: {order.status_label}",
                "order_status",
                order=order,
                news=STATUS_NEWS.get(order.status, ""),
                link=order_url(order, external=True),
                invoice_link=invoice_link,
            )
        )
    except Exception:  # the change stands whatever happens to its mail
        log.exception("could not queue the status mail of order %s", order.reference)


def send_order_mail(order: Order, event: str) -> None:
    """The buyer's confirmation and the owner's notification (``notifications``: summed up
    in a burst), for ``event`` "placed" (invoice mode) or "paid" (Stripe). Sent in the
    background: a slow mail server never holds up the answer, and a failure is logged,
    never lost silently or shown as an error."""
    subject = (
        f"Your order {order.reference} is paid"
        if event == "paid"
        else f"Your order {order.reference} is placed"
    )
    try:
        link = order_url(order, external=True)
        mail.send_later(
            mail.compose(
                order.email,
                subject,
                "order_buyer",
                order=order,
                event=event,
                link=link,
                invoice_link=invoice_url(order),
            )
        )
        notifications.notify_owner(order, event, now())
    except Exception:  # the order stands whatever happens to its mail
        log.exception("could not queue the mail of order %s", order.reference)


def can_view(order: Order, key: str | None, *, user_id: int | None, visit: str | None) -> bool:
    """Whether the viewer may see ``order``: the signed-in customer it belongs to
    (``user_id``), the visit that placed it (``visit``, the session's key), or whoever holds
    its link (``key``)."""
    if user_id is not None and order.user_id == user_id:
        return True
    if visit is not None and order.owner_type == OwnerKind.VISIT and order.owner_id == visit:
        return True
    return key_matches(order.reference, key)
