"""Erasing a customer's personal data on request (``flask --app app customers erase EMAIL``).

The customer is found by the address, normalised as accounts store it: their account, and
every order placed with that address or by that account, signed in or not. What the books
need stays: an order keeps its reference, dates, status, lines, totals and currency, and the
choices of its context form (hosting, traffic, compliance regimes, Cloudflare products),
which say nothing about a person once the name, the contact details and the free text are
gone. Everything else that names the customer, or that they typed, goes.

The work is the list ``STEPS``: one function per table (or pair of tables), run in that
order in one transaction, each saying what it did. A new table that holds a customer's
personal data (invoices, bookings of the scoping call) gets one more step there; one that
points at ``users`` or ``orders`` goes before ``_delete_account``.

This module reads and writes the tables of bag, checkout, orders and sessions directly: it is
the one job that crosses every domain, run by the owner from the command line, and none of
those domains should know about the others to do their part of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import String, delete, func, literal, or_, select, update

from shop.accounts.models import User
from shop.accounts.services import normalize_email
from shop.bag.models import BagLine, WishlistItem
from shop.checkout.models import DraftField
from shop.clock import now
from shop.db import begin_write
from shop.domain import OwnerKind
from shop.extensions import db
from shop.funnel import FunnelOwner
from shop.orders.models import Invoice, Order, OrderEvent
from shop.sessions import SessionRecord

ERASED_NAME = "erased"
# The order fields that a buyer typed as free text, emptied on erasure.
ERASED_TEXT_FIELDS = (
    "company",
    "role",
    "hosting_other",
    "stateful",
    "files",
    "compliance_notes",
    "notes",
    "billing_name",
    "billing_address",
    "vat_id",
    "po_number",
)


class NothingToErase(LookupError):
    """No account, order or checkout draft holds this address."""

    def __init__(self, email: str):
        super().__init__(email)
        self.email = email


@dataclass
class Subject:
    """Whose data is erased, found before any step runs."""

    email: str  # normalised
    user_id: int | None
    order_ids: list[int]
    references: list[str]  # of those orders, in the order they were placed
    draft_owners: list[tuple[str, str]]  # (owner_type, owner_id) of checkout drafts


PAST = {"delete": "deleted", "anonymise": "anonymised", "keep": "kept"}


@dataclass(frozen=True)
class Outcome:
    """What one step did: a verb ("delete", "anonymise") and what, counted."""

    verb: str
    count: int
    text: str  # "2 sessions", "the account 5", "2 orders (EG-…, EG-…)"


@dataclass
class Erasure:
    """The result of an erasure: whose data, and what each step did."""

    email: str
    user_id: int | None
    outcomes: list[Outcome] = field(default_factory=list)
    done: bool = False  # False for a dry run, whose work was rolled back

    def summary(self, past: bool = True) -> str:
        """One line: "deleted 2 sessions, …, the account 5; anonymised 2 orders (EG-…)", or
        with ``past=False`` what is to be done: "delete 2 sessions, …"."""
        by_verb: dict[str, list[str]] = {}
        for outcome in self.outcomes:
            if outcome.count:
                verb = PAST[outcome.verb] if past else outcome.verb
                by_verb.setdefault(verb, []).append(outcome.text)
        if not by_verb:
            return "nothing to erase"
        return "; ".join(f"{verb} {', '.join(texts)}" for verb, texts in by_verb.items())


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 session", "2 sessions"."""
    return f"{count} {singular if count == 1 else plural or singular + 's'}"


# ---------------------------------------------------------------- finding the customer


def _address_condition(column, email: str):
    # The exact form, and ASCII case variants of it (stored values may predate the
    # normalisation of addresses; a draft holds the address as typed). ``normalize_email``
    # decides in Python.
    return or_(column == email, func.lower(func.trim(column)) == email.lower())


def find_subject(email: str) -> Subject | None:
    """The customer with this address (any spelling that normalises to it), or None."""
    email = normalize_email(email)
    user_id = db.session.scalar(select(User.id).where(User.email == email))
    conditions = [_address_condition(Order.email, email)]
    if user_id is not None:
        conditions.append(Order.user_id == user_id)
    found = db.session.execute(
        select(Order.id, Order.reference, Order.user_id, Order.email)
        .where(or_(*conditions))
        .order_by(Order.id)
    ).all()
    orders = [
        row
        for row in found
        if (user_id is not None and row.user_id == user_id) or normalize_email(row.email) == email
    ]
    typed = db.session.execute(
        select(DraftField.owner_type, DraftField.owner_id, DraftField.value).where(
            DraftField.field == "email", _address_condition(DraftField.value, email)
        )
    ).all()
    owners = {(kind, owner) for kind, owner, value in typed if normalize_email(value) == email}
    if user_id is not None:
        owners.add((OwnerKind.CUSTOMER, str(user_id)))
    if user_id is None and not orders and not owners:
        return None
    return Subject(
        email=email,
        user_id=user_id,
        order_ids=[row.id for row in orders],
        references=[row.reference for row in orders],
        draft_owners=sorted(owners),
    )


# ---------------------------------------------------------------- the steps, in order


def _end_sessions(subject: Subject) -> Outcome:
    """The account's sessions (signed in on any device) end."""
    removed = 0
    if subject.user_id is not None:
        removed = db.session.execute(
            delete(SessionRecord).where(SessionRecord.user_id == subject.user_id)
        ).rowcount
    return Outcome("delete", removed, counted(removed, "session"))


def _owned_by_account(model, subject: Subject):
    return (model.owner_type == OwnerKind.CUSTOMER, model.owner_id == str(subject.user_id))


def _delete_bag(subject: Subject) -> Outcome:
    """The account's bag lines, and the funnel's record of the steps it reached (an account
    id may be given out again)."""
    removed = 0
    if subject.user_id is not None:
        removed = db.session.execute(
            delete(BagLine).where(*_owned_by_account(BagLine, subject))
        ).rowcount
        db.session.execute(delete(FunnelOwner).where(*_owned_by_account(FunnelOwner, subject)))
    return Outcome("delete", removed, counted(removed, "bag line"))


def _delete_wishlist(subject: Subject) -> Outcome:
    """The account's wishlist items."""
    removed = 0
    if subject.user_id is not None:
        removed = db.session.execute(
            delete(WishlistItem).where(*_owned_by_account(WishlistItem, subject))
        ).rowcount
    return Outcome("delete", removed, counted(removed, "wishlist item"))


def _delete_drafts(subject: Subject) -> Outcome:
    """Checkout drafts: the account's, and any visit's draft typed with this address (its
    name and context go with it)."""
    drafts = 0
    for kind, owner in subject.draft_owners:
        removed = db.session.execute(
            delete(DraftField).where(DraftField.owner_type == kind, DraftField.owner_id == owner)
        ).rowcount
        drafts += 1 if removed else 0
    return Outcome("delete", drafts, counted(drafts, "checkout draft"))


def _anonymise_orders(subject: Subject) -> Outcome:
    """Orders keep what the books need; the buyer's name, address and typed text go, and
    nothing links them to an account or a visit any more (an account id or a visit's key
    may be given out again)."""
    if subject.order_ids:
        placeholder = (
            literal("erased-", String)
            + func.lower(Order.reference, type_=String)
            + literal("@invalid", String)
        )
        db.session.execute(
            update(Order)
            .where(Order.id.in_(subject.order_ids))
            .values(
                name=ERASED_NAME,
                email=placeholder,
                user_id=None,
                owner_id="",
                updated_at=now(),
                **dict.fromkeys(ERASED_TEXT_FIELDS, ""),
            )
            .execution_options(synchronize_session=False)
        )
    count = len(subject.order_ids)
    text = counted(count, "order")
    if count:
        text += f" ({', '.join(subject.references)})"
    return Outcome("anonymise", count, text)


def _erase_order_notes(subject: Subject) -> Outcome:
    """The administrators' notes on those orders: free text, most likely about the buyer."""
    emptied = 0
    if subject.order_ids:
        emptied = db.session.execute(
            update(OrderEvent)
            .where(OrderEvent.order_id.in_(subject.order_ids), OrderEvent.note != "")
            .values(note="")
            .execution_options(synchronize_session=False)
        ).rowcount
    return Outcome(
        "anonymise",
        emptied or 0,
        counted(emptied or 0, "note on those orders", "notes on those orders"),
    )


def _keep_invoices(subject: Subject) -> Outcome:
    """Issued invoices stay as they were issued, buyer's name and address included: tax law
    requires them unchanged for years. The report says so, so the owner can tell the buyer."""
    numbers = []
    if subject.order_ids:
        numbers = list(
            db.session.scalars(
                select(Invoice.number)
                .where(Invoice.order_id.in_(subject.order_ids))
                .order_by(Invoice.number)
            )
        )
    text = counted(len(numbers), "invoice")
    if numbers:
        text += f" as issued ({', '.join(numbers)}), which tax law requires unchanged"
    return Outcome("keep", len(numbers), text)


def _delete_account(subject: Subject) -> Outcome:
    """The users row: name, address and password hash. Last, once nothing points at it."""
    if subject.user_id is None:
        return Outcome("delete", 0, "no account")
    removed = db.session.execute(delete(User).where(User.id == subject.user_id)).rowcount
    return Outcome("delete", removed, f"the account {subject.user_id}")


# Run in this order; the report lists what each did in the same order.
STEPS: tuple[Callable[[Subject], Outcome], ...] = (
    _end_sessions,
    _delete_bag,
    _delete_wishlist,
    _delete_drafts,
    _anonymise_orders,
    _erase_order_notes,
    _keep_invoices,
    _delete_account,
)


def erase_customer(email: str, *, dry_run: bool = False) -> Erasure:
    """Erase the personal data of the customer with this address, in one transaction.

    Raises :class:`NothingToErase` when no account, order or draft holds the address. With
    ``dry_run`` every step runs and says what it would do, and the transaction is rolled
    back: the preview the command shows before asking for confirmation.
    """
    begin_write()
    session = db.session()
    try:
        subject = find_subject(email)
        if subject is None:
            raise NothingToErase(normalize_email(email))
        outcomes = [step(subject) for step in STEPS]
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return Erasure(subject.email, subject.user_id, outcomes, done=not dry_run)
