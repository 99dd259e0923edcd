"""Values the domains share, named once: whose things a bag, a wishlist, a draft or an order
are (``Owner``), and why a change was refused (``ErrorKind``; views map it to a status)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OwnerKind(StrEnum):
    """Who owns a bag line, a wishlist item, a draft or an order; stored as its value."""

    VISIT = "session"  # a visitor not signed in: the id is the stored session key
    CUSTOMER = "user"  # a signed-in customer: the id is the user id


@dataclass(frozen=True)
class Owner:
    """Whose bag, wishlist and draft: a visitor's session, or (after sign-in) a customer."""

    kind: OwnerKind
    id: str

    @classmethod
    def visit(cls, key: str) -> Owner:
        return cls(OwnerKind.VISIT, key)

    @classmethod
    def customer(cls, user_id: int | str) -> Owner:
        return cls(OwnerKind.CUSTOMER, str(user_id))


class ErrorKind(StrEnum):
    """Why a domain refused a change, in the domain's terms."""

    MISSING = "missing"  # the thing acted on is not there (any more)
    INVALID = "invalid"  # the request is not one the domain knows
    CONFLICT = "conflict"  # the state changed under it, or it was already done


class DomainError(Exception):
    """A change a domain cannot make: ``kind`` says why, ``message`` says it to a person."""

    def __init__(self, kind: ErrorKind, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message
