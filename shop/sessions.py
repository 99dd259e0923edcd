"""Server-side sessions: a random id in the cookie, the data in the ``sessions`` table.

Flask-Session is not used: its SQLAlchemy backend commits the app's own ``db.session`` when
it saves, writes a row on every request, creates its table outside migrations, and has not
been released since 2024. This store is small and does only what the shop needs:

* The cookie holds a random id (256 bits); the table keys rows by the id's SHA-256, so a
  copy of the table does not hand out live sessions.
* A row is written only when the data changed; its expiry slides at most once an hour.
* A visitor without a cookie who only reads pages writes nothing: the CSRF secret is not
  stored but derived from the session id (HMAC with the app's secret key), so a page can
  carry a CSRF token with only a cookie set, and the row appears with the first real change.
* ``regenerate()`` gives the session a new id (at sign-in) and drops the old row.
* An id the store never stored is never adopted: a cookie whose id has no live row (planted
  by someone else, or an expired one) is read as an empty session, and before anything is
  stored for it the session gets an id of its own (see ``_claim``). So whoever planted an id
  in a browser (a sibling subdomain, a shared device, plain HTTP before HSTS) cannot read
  what the visitor goes on to put in the bag, the draft or an order.
* The store saves through its own connection and transaction, never the request's ORM
  session, so saving a session can neither commit nor roll back a view's work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Flask, Request, Response, current_app, g, request
from flask import session as session_proxy
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Integer,
    String,
    Text,
    bindparam,
    case,
    cast,
    delete,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from shop.clock import now
from shop.db import built_once, database_unavailable, write_connection
from shop.domain import Owner, OwnerKind
from shop.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

CSRF_KEY = "csrf_token"  # Flask-WTF's session key for its secret
USER_KEY = "_user_id"  # Flask-Login's session key for the signed-in user
SLIDE_EVERY = timedelta(hours=1)
# A session that is not permanent (signed in without "keep me signed in") has a cookie
# that the browser forgets when it closes, and a row that expires after a day idle.
TRANSIENT_LIFETIME = timedelta(days=1)
_SID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class SessionRecord(db.Model):
    """One visitor's session data."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the cookie id
    data: Mapped[str] = mapped_column(Text, default="{}")
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The signed-in customer (Flask-Login's "_user_id"), so that a password change can end
    # the customer's other sessions. No foreign key: rows are written after the view's work.
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)


# Reads of other domains that ride along with the session's own, in the same statement: a
# page needs the session and the visitor's counters, and one round trip serves both. Each
# is a function of the owner expressions (kind, id) of the session row, which returns
# labelled scalar subqueries; the domain that wants them registers it at import
# (``read_along``), and finds the values in ``session.along``.
_ALONG: list[Callable[[ColumnElement, ColumnElement], list[ColumnElement]]] = []
_OWN_COLUMNS = ("data", "expires_at", "user_id")


def read_along(build: Callable[[ColumnElement, ColumnElement], list[ColumnElement]]):
    """Register ``build`` (see ``_ALONG``); used as a decorator at import time, before the
    first request builds the read."""
    _ALONG.append(build)
    return build


def _read() -> Any:
    signed_in = SessionRecord.user_id.is_not(None)
    kind = case(
        (signed_in, literal(OwnerKind.CUSTOMER.value)), else_=literal(OwnerKind.VISIT.value)
    )
    owner_id = case((signed_in, cast(SessionRecord.user_id, String)), else_=SessionRecord.id)
    columns = [SessionRecord.data, SessionRecord.expires_at, SessionRecord.user_id]
    for build in _ALONG:
        columns += build(kind, owner_id)
    return select(*columns).where(SessionRecord.id == bindparam("key"))


_CREATED = select(SessionRecord.created_at).where(SessionRecord.id == bindparam("key"))
# How long after a claimed id's row appeared another request bearing the same unstored
# cookie id may still join it: the second click of a double click, or two first clicks in
# flight at once, which the browser sent before it had the new cookie.
JOIN_WINDOW = timedelta(seconds=10)


def session_key(sid: str) -> str:
    """The key under which the session with cookie id ``sid`` is stored."""
    return hashlib.sha256(sid.encode()).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes for what was stored as UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class ServerSession(CallbackDict, SessionMixin):
    """The session seen by views: a dict that knows whether it was read or changed."""

    def __init__(
        self,
        data: dict[str, Any] | None,
        sid: str,
        *,
        stored: bool,
        expires_at: datetime | None,
        from_cookie: bool,
    ):
        def on_update(self: ServerSession) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.stored = stored  # a row exists for this id
        self.expires_at = expires_at
        self.from_cookie = from_cookie  # the browser already holds this id
        self.saved_json = ""  # what the row holds, set once the CSRF secret is in
        self.modified = False
        self.accessed = False
        self.regenerated_from: str | None = None
        # The CSRF secret the old row kept (see _claim), kept a moment longer after a new id.
        self.left_csrf: str | None = None
        self.unavailable = False  # the database could not be read: never saved
        self.unread_because: DBAPIError | None = None
        # The cookie's id has no live row: it is read as an empty session, but never stored
        # under that id (someone else may know it); see _claim.
        self.unissued = from_cookie and not stored
        self.expired_row = False  # the cookie's id has a row, expired: it goes when claimed
        # What the other domains' reads (read_along) found for ``along_owner`` when the row
        # was read; empty when there is no live row.
        self.along: dict[str, Any] = {}
        self.along_owner: Owner | None = None

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)

    @property
    def key(self) -> str:
        """The stored key of this session (used by tables that belong to a visitor)."""
        return session_key(self.sid)

    @property
    def permanent(self) -> bool:
        """Whether the cookie outlives the browser: yes unless set otherwise (a visitor's bag
        and wishlist are kept for SESSION_LIFETIME_DAYS)."""
        return bool(dict.get(self, "_permanent", True))  # not a read of the visitor's data

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self["_permanent"] = bool(value)

    @property
    def user_id(self) -> int | None:
        """The signed-in customer's id, if any."""
        value = dict.get(self, USER_KEY)
        try:
            return int(value) if value is not None else None
        except (TypeError, ValueError):
            return None


def _dumps(session: ServerSession) -> str:
    # The CSRF secret is derived from the id (never stored) unless the session was given a
    # new id after the page with its tokens was drawn (see _claim).
    derived = csrf_secret(session.sid)
    return json.dumps(
        {k: v for k, v in session.items() if k != CSRF_KEY or v != derived},
        sort_keys=True,
        separators=(",", ":"),
    )


def csrf_secret(sid: str) -> str:
    """The CSRF secret of the session with id ``sid``, derived with the app's secret key."""
    key = str(current_app.secret_key).encode()
    return hmac.new(key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()


def _successor(sid: str) -> str:
    """The id an unstored cookie id ``sid`` is claimed under: the same for every request that
    bears it, and unknown to whoever knows ``sid`` without the app's secret key."""
    key = str(current_app.secret_key).encode()
    digest = hmac.new(key, b"claim:" + sid.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _claim(session: ServerSession) -> None:
    """Give a session whose cookie id was never stored an id of its own, before anything is
    stored for it.

    The new id is derived from the cookie's id, so the requests of a double click (sent
    with the same cookie before the browser had the new one) land in the same session. A
    request may join that session only while its row is younger than ``JOIN_WINDOW``;
    after that, someone who planted the cookie id and tries it later gets a random id and
    sees nothing of the visitor's. The CSRF secret stays that of the page the visitor has
    (its tokens keep working); cross-site use of it is refused by ``shop.origin``.
    """
    if not session.unissued:
        return
    session.unissued = False
    successor = _successor(session.sid)
    created = db.session.connection().execute(_CREATED, {"key": session_key(successor)}).scalar()
    if created is not None and _aware(created) + JOIN_WINDOW < now():
        successor = secrets.token_urlsafe(32)
    dict.__setitem__(session, CSRF_KEY, dict.get(session, CSRF_KEY) or csrf_secret(session.sid))
    if session.expired_row:
        session.regenerated_from = session.sid  # the expired row is deleted with the save
    session.sid = successor
    session.from_cookie = False
    session.modified = True


def regenerate(session: ServerSession) -> None:
    """Give the session a new id, keeping its data; the old id stops working.

    Called at sign-in, so an id planted in the browser before sign-in is worthless after.
    The CSRF secret becomes the new id's: tokens made for the old id stop working too.
    """
    session = _real(session)
    if session.stored:
        session.regenerated_from = session.sid
        secret = dict.get(session, CSRF_KEY)
        if secret and secret != csrf_secret(session.sid):
            session.left_csrf = secret
    session.sid = secrets.token_urlsafe(32)
    session.stored = False
    session.from_cookie = False
    session.unissued = False
    dict.__setitem__(session, CSRF_KEY, csrf_secret(session.sid))
    session.modified = True


def key_before_sign_in() -> str | None:
    """At sign-in (after :func:`regenerate`), the key the visit's own rows are filed under
    (its bag, wishlist, checkout draft), when that session was stored; else None."""
    sid = getattr(_real(session_proxy), "regenerated_from", None)
    return session_key(sid) if sid else None


def _real(session: Any) -> ServerSession:
    # Views pass Flask's proxy; dict's own methods need the session object itself.
    return session._get_current_object() if hasattr(session, "_get_current_object") else session


def end(session: ServerSession) -> None:
    """Forget everything in the session and give it a new id; the old row is deleted.

    Called at sign-out, so the old id is worth nothing even to someone who copied it.
    """
    session.clear()
    regenerate(session)


def end_sessions_of(user_id: int, keep: ServerSession | None = None) -> int:
    """Delete every stored session of the customer ``user_id`` except ``keep``.

    Called when a password changes, so that whoever else was signed in is signed out.
    Returns how many were ended.
    """
    condition = [SessionRecord.user_id == user_id]
    if keep is not None:
        condition.append(SessionRecord.id != keep.key)
    with write_connection() as conn:
        return conn.execute(delete(SessionRecord).where(*condition)).rowcount or 0


def ensure_stored(session: ServerSession) -> None:
    """Make sure the session will have a row after this request (tables may refer to it).

    Called before a change keyed by ``session.key``: a cookie id that was never stored is
    replaced here, so the change is keyed by the session's own id.
    """
    if not session.stored:
        session = _real(session)
        _claim(session)
        session.modified = True


class ServerSessionInterface(SessionInterface):
    """Flask session interface over the ``sessions`` table."""

    def _new(self, app: Flask) -> ServerSession:
        sid = secrets.token_urlsafe(32)
        return self._with_csrf(
            ServerSession(None, sid, stored=False, expires_at=None, from_cookie=False)
        )

    def _with_csrf(self, session: ServerSession) -> ServerSession:
        # Set without marking the session modified: the secret is derived, not stored (a
        # stored one, kept when the session got a new id, comes with the data).
        if CSRF_KEY not in session:
            dict.__setitem__(session, CSRF_KEY, csrf_secret(session.sid))
        session.saved_json = _dumps(session)
        return session

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if _is_sessionless(app, request):
            # A static file or the health check needs no session: no lookup, no cookie. (A
            # fresh one, never saved, for an error page's CSRF token.)
            return self._new(app)
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if not _SID_RE.match(sid):
            return self._new(app)
        try:
            # Core on the request's connection, with a statement built once: the ORM's
            # execute costs more than the lookup itself. The read opens the request's
            # transaction, which the view goes on using (one snapshot, one connection), and
            # brings what other domains read along (the counters).
            read, sid_key = built_once(_read), session_key(sid)
            row = db.session.connection().execute(read, {"key": sid_key}).first()
        except DBAPIError as error:
            if not database_unavailable(error):
                raise
            # The database is down or locked. The error is raised again before the view
            # (refuse_unread_session), so that the shop's 503 page answers, drawn with an
            # empty session: a page that may not touch the database (drawn from the shelf)
            # must not show this visitor as a stranger.
            db.session.rollback()
            session = ServerSession(None, sid, stored=False, expires_at=None, from_cookie=True)
            session.unavailable = True
            session.unread_because = error
            return self._with_csrf(session)
        if row is not None and _aware(row.expires_at) > now():
            try:
                data = json.loads(row.data)
            except ValueError:
                data = {}
            session = ServerSession(
                data if isinstance(data, dict) else {},
                sid,
                stored=True,
                expires_at=_aware(row.expires_at),
                from_cookie=True,
            )
            fields = row._mapping
            session.along = {name: fields[name] for name in fields if name not in _OWN_COLUMNS}
            session.along_owner = (
                Owner.customer(row.user_id) if row.user_id is not None else Owner.visit(sid_key)
            )
        else:
            # No live row: an id minted for a page that stored nothing, an expired one, or
            # one planted by someone else. Read as empty, with the CSRF secret of this id (the
            # tokens on the visitor's page stay valid); never stored under it (_claim).
            session = ServerSession(None, sid, stored=False, expires_at=None, from_cookie=True)
            session.expired_row = row is not None
        return self._with_csrf(session)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        cookie = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }
        if _is_sessionless(app, request):
            return
        if session.accessed:
            response.vary.add("Cookie")
        if session.unavailable or g.get("database_unavailable"):
            return  # nothing read can be trusted to write back; the visitor tries again

        if session.modified and session.unissued:
            _claim(session)  # stored from here on, but never under the cookie's id
        lifetime = app.permanent_session_lifetime if session.permanent else TRANSIENT_LIFETIME
        moment = now()
        new_json = _dumps(session)
        write = session.modified and (new_json != session.saved_json or not session.stored)
        if write and session.regenerated_from and new_json == "{}":
            write = False  # ended (sign-out): the old row goes, no empty row for the new id
        slide = (
            session.stored
            and not write
            and session.expires_at is not None
            and session.expires_at - lifetime + SLIDE_EVERY <= moment
        )

        if write or slide or session.regenerated_from:
            expires = moment + lifetime
            with write_connection() as conn:
                if session.regenerated_from:
                    old = SessionRecord.id == session_key(session.regenerated_from)
                    if session.left_csrf:
                        # The old id's page tokens cannot be derived from it (the row kept
                        # them): for a moment the row keeps only them, so the second click of
                        # a double submit is still a valid form, and finds an empty session.
                        conn.execute(
                            update(SessionRecord)
                            .where(old)
                            .values(
                                data=json.dumps({CSRF_KEY: session.left_csrf}),
                                expires_at=moment + JOIN_WINDOW,
                                user_id=None,
                            )
                        )
                    else:
                        conn.execute(delete(SessionRecord).where(old))
                if slide:
                    conn.execute(
                        update(SessionRecord)
                        .where(SessionRecord.id == session.key)
                        .values(expires_at=expires)
                    )
                elif session.stored and write:
                    conn.execute(
                        update(SessionRecord)
                        .where(SessionRecord.id == session.key)
                        .values(data=new_json, expires_at=expires, user_id=session.user_id)
                    )
                elif write:
                    # Upsert: an expired row may still hold this key, and two first requests
                    # of the same visitor may arrive at once.
                    insert = (
                        postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
                    )
                    stmt = insert(SessionRecord).values(
                        id=session.key,
                        data=new_json,
                        expires_at=expires,
                        created_at=moment,
                        user_id=session.user_id,
                    )
                    conn.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["id"],
                            set_={
                                "data": stmt.excluded.data,
                                "expires_at": stmt.excluded.expires_at,
                                "user_id": stmt.excluded.user_id,
                            },
                        )
                    )
            # A transient session's cookie has no expiry: the browser forgets it on closing.
            cookie_expires = expires if session.permanent else None
            response.set_cookie(name, session.sid, expires=cookie_expires, **cookie)
            response.vary.add("Cookie")
        elif not session.from_cookie and g.get(CSRF_KEY):
            # The page carries a CSRF token derived from this id (Flask-WTF keeps the token
            # it made in g): the browser must keep the id. Other answers set no cookie.
            cookie_expires = moment + lifetime if session.permanent else None
            response.set_cookie(name, session.sid, expires=cookie_expires, **cookie)
            response.vary.add("Cookie")


def refuse_unread_session() -> None:
    """Before each view: a visitor whose session could not be read gets the 503 page."""
    error = getattr(session_proxy, "unread_because", None)
    if error is not None:
        raise error


def sessionless(view: F) -> F:
    """Mark a view without arguments in its address that never reads or writes the session
    (the health check): its requests skip the session's lookup and its save."""
    view.sessionless = True  # type: ignore[attr-defined]
    return view


def _is_sessionless(app: Flask, request: Request) -> bool:
    # The session opens before Flask matches the address to a view, so the marked views'
    # paths are collected once from the URL map.
    paths = app.extensions.get("shop_sessionless_paths")
    if paths is None:
        paths = app.extensions["shop_sessionless_paths"] = frozenset(
            rule.rule
            for rule in app.url_map.iter_rules()
            if not rule.arguments
            and getattr(app.view_functions[rule.endpoint], "sessionless", False)
        )
    if request.path in paths:
        return True
    return bool(app.static_url_path) and request.path.startswith(app.static_url_path + "/")


def purge_expired() -> int:
    """Delete expired sessions; returns how many were removed."""
    with write_connection() as conn:
        result = conn.execute(delete(SessionRecord).where(SessionRecord.expires_at <= now()))
        return result.rowcount or 0
