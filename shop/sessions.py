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
* The store saves through its own connection and transaction, never the request's ORM
  session, so saving a session can neither commit nor roll back a view's work.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, g, request
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import DateTime, Integer, String, Text, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from shop.db import database_unavailable, write_connection
from shop.extensions import db

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


_READ = select(SessionRecord.data, SessionRecord.expires_at).where(
    SessionRecord.id == bindparam("key")
)


def now() -> datetime:
    """The current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


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
        self.saved_json = _dumps(self)
        self.modified = False
        self.accessed = False
        self.regenerated_from: str | None = None
        self.unavailable = False  # the database could not be read: never saved

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


def _dumps(data: dict[str, Any]) -> str:
    return json.dumps(
        {k: v for k, v in data.items() if k != CSRF_KEY}, sort_keys=True, separators=(",", ":")
    )


def regenerate(session: ServerSession) -> None:
    """Give the session a new id, keeping its data; the old id stops working.

    Called at sign-in, so an id planted in the browser before sign-in is worthless after.
    """
    session.regenerated_from = session.sid if session.stored else None
    session.sid = secrets.token_urlsafe(32)
    session.stored = False
    session.from_cookie = False
    session.modified = True


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
    """Make sure the session will have a row after this request (tables may refer to it)."""
    if not session.stored:
        session.modified = True


class ServerSessionInterface(SessionInterface):
    """Flask session interface over the ``sessions`` table."""

    def _csrf_secret(self, app: Flask, sid: str) -> str:
        key = str(app.secret_key).encode()
        return hmac.new(key, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def _new(self, app: Flask) -> ServerSession:
        sid = secrets.token_urlsafe(32)
        return self._with_csrf(
            app, ServerSession(None, sid, stored=False, expires_at=None, from_cookie=False)
        )

    def _with_csrf(self, app: Flask, session: ServerSession) -> ServerSession:
        # Set without marking the session modified: the secret is derived, never stored.
        dict.__setitem__(session, CSRF_KEY, self._csrf_secret(app, session.sid))
        return session

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if _is_static(app, request):
            return self._new(app)  # a static file needs no session: no lookup, no cookie
        sid = request.cookies.get(self.get_cookie_name(app), "")
        if not _SID_RE.match(sid):
            return self._new(app)
        try:
            # Core on the request's connection, with a statement built once: the ORM's
            # execute costs more than the lookup itself. The read opens the request's
            # transaction, which the view goes on using (one snapshot, one connection).
            row = db.session.connection().execute(_READ, {"key": session_key(sid)}).first()
        except DBAPIError as error:
            if not database_unavailable(error):
                raise
            # The database is down or locked: go on without the visitor's data, so the
            # view (which will meet the same trouble) can answer the shop's 503 page.
            db.session.rollback()
            session = ServerSession(None, sid, stored=False, expires_at=None, from_cookie=True)
            session.unavailable = True
            return self._with_csrf(app, session)
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
        else:
            # An id we minted earlier whose row never existed or expired: keep using it, so
            # the CSRF token on a page the visitor already has stays valid.
            session = ServerSession(None, sid, stored=False, expires_at=None, from_cookie=True)
        return self._with_csrf(app, session)

    def save_session(self, app: Flask, session: ServerSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        cookie = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "samesite": self.get_cookie_samesite(app),
            "httponly": self.get_cookie_httponly(app),
        }
        if _is_static(app, request):
            return
        if session.accessed:
            response.vary.add("Cookie")
        if session.unavailable or g.get("database_unavailable"):
            return  # nothing read can be trusted to write back; the visitor tries again

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
                    conn.execute(
                        delete(SessionRecord).where(
                            SessionRecord.id == session_key(session.regenerated_from)
                        )
                    )
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


def _is_static(app: Flask, request: Request) -> bool:
    return bool(app.static_url_path) and request.path.startswith(app.static_url_path + "/")


def purge_expired() -> int:
    """Delete expired sessions; returns how many were removed."""
    with write_connection() as conn:
        result = conn.execute(delete(SessionRecord).where(SessionRecord.expires_at <= now()))
        return result.rowcount or 0
