"""Accounts: registration, password checks, sign-in checks, reset links, administrators.

Passwords are hashed with Werkzeug's scrypt and never stored, logged or echoed. Email
addresses are kept trimmed, NFKC-normalised and case-folded (``normalize_email``), which is
what makes them unique: look-alike spellings of one address are one account.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import cache
from importlib import resources

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from shop.accounts.models import User
from shop.clock import now
from shop.db import write_transaction
from shop.extensions import db

MAX_EMAIL = 254  # the users.email and orders.email columns
MIN_PASSWORD = 10
# scrypt's cost grows with the input; a cap keeps a 64 KiB "password" from costing much.
MAX_PASSWORD = 200
RESET_MAX_AGE = 3600  # seconds a password-reset link works
RESET_SALT = "password-reset"
_DECORATION = re.compile(r"[\d\W_]+$")  # digits, signs and spaces at the end
_SIGNS = re.compile(r"[\W_]+$")  # signs and spaces at the end


class AccountError(Exception):
    """A request about an account that cannot be carried out; ``field`` names the form field
    the message belongs to (None: the form as a whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def normalize_email(value: str | None) -> str:
    """The address as it is stored and looked up: trimmed, NFKC-normalised, case-folded.

    NFKC turns compatibility forms into their plain letters (fullwidth "ｍｉｘｅｄ" is
    "mixed", the ligature "ﬁ" is "fi"). ``casefold`` rather than ``lower`` because it is
    Unicode's case-insensitive matching, which goes beyond ASCII where ``lower`` stops: the
    German sharp s "ß" folds to "ss", so "straße" and "STRASSE" are one address, and the
    Greek final sigma "ς" folds to "σ" as "Σ" does. Folding can leave a sequence that NFKC
    composes ("ß" and a combining caron become "ss" and the caron, that is "sš"), so NFKC
    runs once more: the stored form then normalises to itself, and typing it signs in too.

    The result may no longer be a valid address ("a＠b@example.com" becomes
    "a@b@example.com"): see :func:`email_problem`. An ASCII address, nearly every one,
    only needs ``lower``.
    """
    value = (value or "").strip()
    if value.isascii():
        return value.lower()
    folded = unicodedata.normalize("NFKC", value).casefold()
    return unicodedata.normalize("NFKC", folded)


def email_problem(value: str | None) -> str | None:
    """Why the address, as :func:`normalize_email` stores it, is not a valid address, or
    None when it is one. What is stored is what is validated: a form's own check sees the
    address as typed, and normalising can make a valid one invalid, or longer."""
    address = normalize_email(value)
    typed = (value or "").strip()
    # Saying what the address became only helps when more than its case changed.
    changed = f"Written in plain characters this address is {address}, "
    if address == typed.lower():
        changed = ""
    if len(address) > MAX_EMAIL:
        if changed:
            return f"{changed}which is longer than {MAX_EMAIL} characters."
        return f"An email address has at most {MAX_EMAIL} characters."
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        if changed:
            return f"{changed}which is not a valid email address. Type it in plain characters."
        return "Enter an email address like name@example.com."
    return None


# ---------------------------------------------------------------- passwords


@cache
def common_passwords() -> frozenset[str]:
    """The 10,000 most common passwords (shipped in common-passwords.txt), in lower case."""
    text = resources.files("shop.accounts").joinpath("common-passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line and not line.startswith("#")
    )


def password_problem(password: str, email: str = "") -> str | None:
    """Why ``password`` will not do, or None when it is good enough."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    lowered = password.strip().lower()
    # Most common passwords are shorter than the minimum, so the list also catches one with
    # digits or signs added at the end ("password1234", "Qwerty!!2024").
    candidates = {lowered, _SIGNS.sub("", lowered), _DECORATION.sub("", lowered)} - {""}
    if candidates & common_passwords():
        return "That password is one of the most common ones. Choose another."
    if len(set(lowered)) < 4:
        return "Use more different characters than that."
    if email and normalize_email(password) == normalize_email(email):
        return "Your password must not be your email address."
    return None


def hash_password(password: str) -> str:
    """Werkzeug's scrypt hash of the password (salted; the method is named in the hash)."""
    return generate_password_hash(password, method="scrypt")


@cache
def _dummy_hash() -> str:
    return hash_password("not the password of anyone at all")


# ---------------------------------------------------------------- users


def get_user(user_id: int) -> User | None:
    """The user with this id, if any."""
    return db.session.get(User, user_id)


def find_user(email: str) -> User | None:
    """The user with this address (any case or look-alike spelling, surrounding spaces
    aside: see :func:`normalize_email`), if any."""
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def register(name: str, email: str, password: str, is_admin: bool = False) -> User:
    """Create a customer (or an administrator); raises AccountError if the address is not
    valid once normalised, is taken, or the password weak."""
    problem = email_problem(email)
    if problem:
        raise AccountError(problem, "email")
    email = normalize_email(email)
    problem = password_problem(password, email)
    if problem:
        raise AccountError(problem, "password")
    moment = now()
    user = User(
        name=name.strip(),
        email=email,
        password_hash=hash_password(password),
        is_admin=is_admin,
        created_at=moment,
        password_changed_at=moment,
    )
    try:
        with write_transaction():
            db.session.add(user)
    except IntegrityError:
        # Checked by the unique constraint, not by a read before: two registrations of one
        # address at once cannot both pass.
        raise AccountError(
            "An account with this email already exists. Sign in, or reset its password.",
            "email",
        ) from None
    return user


def authenticate(email: str, password: str) -> User | None:
    """The user whose address and password these are, or None.

    An unknown address costs the same scrypt work as a wrong password, so the answer's
    timing does not tell which addresses have accounts.
    """
    user = find_user(email)
    if user is None or len(password) > MAX_PASSWORD:
        check_password_hash(_dummy_hash(), password[:MAX_PASSWORD])
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one."""
    if len(current) > MAX_PASSWORD or not check_password_hash(user.password_hash, current):
        raise AccountError("That is not your current password.", "current_password")
    set_password(user, new)


def set_password(user: User, password: str) -> None:
    """Set a new password (which also spends every reset link sent before)."""
    problem = password_problem(password, user.email)
    if problem:
        raise AccountError(problem, "password")
    with write_transaction():
        user.password_hash = hash_password(password)
        user.password_changed_at = now()


def make_admin(email: str, password: str | None) -> tuple[User, bool]:
    """Promote the user with this address, or create one (``password`` then required).

    Returns the user and whether it was created.
    """
    user = find_user(email)
    if user is not None:
        with write_transaction():
            user.is_admin = True
        return user, False
    if password is None:
        raise AccountError("A new administrator needs a password.", "password")
    normalized = normalize_email(email)
    # The address as given: register() names what it became if that is not valid.
    return register(normalized.split("@")[0] or normalized, email, password, True), True


def count_users() -> int:
    """How many accounts exist."""
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def list_users(limit: int = 200) -> list[User]:
    """The newest accounts first."""
    return list(db.session.scalars(select(User).order_by(User.id.desc()).limit(limit)))


# ---------------------------------------------------------------- reset links


class _ClockedSigner(TimestampSigner):
    """itsdangerous's timestamp signer on the module's clock, so tests can move time."""

    def get_timestamp(self) -> int:
        return int(now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=RESET_SALT, signer=_ClockedSigner)


def _fingerprint(user: User) -> str:
    # Part of a hash of the password hash: a new password (even the same one, re-salted)
    # changes it, which spends every link made before. Nothing of the hash leaks.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def make_reset_token(user: User) -> str:
    """A signed token for a reset link: the user, and the password it may replace."""
    return _serializer().dumps([user.id, _fingerprint(user)])


def dummy_reset_token() -> str:
    """A token of the same shape for no one (the reset mail is built either way)."""
    return _serializer().dumps([0, "0" * 16])


def read_reset_token(token: str) -> User:
    """The user a reset link is for; AccountError says why the link does not work."""
    try:
        user_id, fingerprint = _serializer().loads(token, max_age=RESET_MAX_AGE)
    except SignatureExpired:
        raise AccountError(
            "This link has expired: links work for one hour. Ask for a new one."
        ) from None
    except (BadSignature, TypeError, ValueError):
        raise AccountError("This link is not valid. Ask for a new one.") from None
    user = db.session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not isinstance(fingerprint, str):
        raise AccountError("This link is not valid. Ask for a new one.")
    if not hmac.compare_digest(fingerprint, _fingerprint(user)):
        raise AccountError(
            "This link was already used, or the password changed since it was sent. "
            "Ask for a new one."
        )
    return user
