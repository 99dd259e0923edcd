"""The edge goods shop: ``create_app`` builds the Flask application."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import stat
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import brotli
from flask import Flask, Response, g, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException, InternalServerError, RequestURITooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from shop import mail, origin, urls
from shop.bag import offer_forms
from shop.bag.services import Counts
from shop.catalog import shelf
from shop.config import Defaults
from shop.db import configure_engine, database_unavailable
from shop.errors import RETRY_AFTER, expired_form, render_error
from shop.extensions import compress, csrf, db, htmx, limiter, login_manager, migrate
from shop.hosts import HostGuard, allowed_hosts
from shop.sessions import ServerSessionInterface, refuse_unread_session
from shop.urls import absolute_url
from shop.web import BoundedInt, format_money, limit_retry_text

PROJECT_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, error pages, commands."""
    test_config = dict(test_config or {})
    instance_path = test_config.pop("INSTANCE_PATH", None) or os.environ.get("SHOP_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=str(Path(instance_path).resolve()) if instance_path else None,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    if instance_path is None:
        # Run from a checkout (also when installed in editable mode): instance/ beside shop/.
        app.instance_path = str(PROJECT_ROOT / "instance")
    register_config(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_headers(app)
    register_templates(app)
    urls.init_app(app)
    shelf.init_app(app)
    offer_forms.init_app(app)
    from shop.cli import register_cli

    register_cli(app)
    with app.app_context():
        # A mistyped mail setting stops the start, rather than failing later only for the
        # mail to existing accounts (which would tell who has one).
        mail.current_settings()
    return app


# ---------------------------------------------------------------- configuration


def register_config(app: Flask, test_config: dict[str, Any]) -> None:
    """Defaults, then instance/config.py, then SHOP_* variables, then the tests' overrides."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("SHOP")
    app.config.update(test_config)
    private_folder(Path(app.instance_path))
    # Registers the sqlite-file:// scheme before Flask-Limiter builds its storage.
    from shop.ratelimit_storage import file_uri

    if app.config["RATELIMIT_STORAGE_URI"] is None:
        counters = Path(app.instance_path) / "ratelimits.sqlite3"
        app.config["RATELIMIT_STORAGE_URI"] = file_uri(counters)

    url = app.config["DATABASE_URL"] or f"sqlite:///{Path(app.instance_path) / 'shop.sqlite3'}"
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    database = make_url(url).database if url.startswith("sqlite") else None
    if database and database != ":memory:" and not database.startswith("file:"):
        private_database(Path(database))
    # A connection a database server dropped (a PostgreSQL restart) is noticed and replaced
    # before use, so the pool recovers without restarting the workers. SQLite has no
    # server to lose.
    if not url.startswith("sqlite"):
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("pool_pre_ping", True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_or_create_secret_key(Path(app.instance_path))
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(days=app.config["SESSION_LIFETIME_DAYS"])
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["HTTPS"])
    if app.config["HTTPS"]:
        # A __Host- cookie is only accepted from a secure origin, for this exact host, with
        # Path=/: neither a sibling subdomain nor a page on plain HTTP can plant one.
        if app.config.get("SESSION_COOKIE_DOMAIN"):
            raise ValueError("SESSION_COOKIE_DOMAIN must stay unset: the cookie is __Host-")
        name = app.config["SESSION_COOKIE_NAME"]
        if not name.startswith("__Host-"):
            app.config["SESSION_COOKIE_NAME"] = "__Host-" + name
        app.config["SESSION_COOKIE_PATH"] = "/"
    app.config["PREFERRED_URL_SCHEME"] = "https" if app.config["HTTPS"] else "http"
    # Unknown hosts are refused before anything runs; behind trusted proxies the check sees
    # the host the proxy forwarded (ProxyFix wraps the guard).
    hosts = allowed_hosts(app.config)
    app.config["TRUSTED_HOSTS"] = hosts
    app.wsgi_app = HostGuard(app.wsgi_app, hosts)  # type: ignore[method-assign]
    if app.config["TRUSTED_PROXIES"]:
        count = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)


def private_folder(folder: Path) -> None:
    """Create ``folder`` readable by its owner only (0700), or make it so.

    The instance folder holds the database, the secret key and the outbox: customers' data
    and password hashes are no business of other accounts on the machine.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(folder, 0o700)


def private_database(path: Path) -> None:
    """Create the SQLite file empty with mode 0600 before SQLite opens it, or make it so.

    SQLite gives its -wal and -shm files the mode of the database file, so they follow.
    """
    if not path.parent.is_dir():
        return  # a wrong path: SQLite's own error says so when it is opened
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            _tighten(file, 0o600)


def _tighten(path: Path, mode: int) -> None:
    # Only ever removes permissions; a file of another owner is reported, not fatal.
    current = stat.S_IMODE(path.stat().st_mode)
    if current & ~mode:
        try:
            path.chmod(current & mode)
        except PermissionError:
            log.warning("%s is readable by others (mode %o) and cannot be changed", path, current)


def load_or_create_secret_key(instance: Path) -> str:
    """Read instance/secret_key, creating it (mode 0600) with a random key the first time.

    Several gunicorn workers may start at once: the key is written to a private temporary
    file and linked into place, so exactly one key wins and nobody reads a half-written one.
    """
    path = instance / "secret_key"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=instance, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text().strip()
    if not key:
        raise RuntimeError(f"{path} is empty; delete it to have a new key generated")
    return key


def register_extensions(app: Flask) -> None:
    """Bind the extensions and set up the engine and the session store."""
    db.init_app(app)

    # Registered after Flask-SQLAlchemy's, so it runs first: the end of a request must not
    # fail because the database went away meanwhile (a PostgreSQL restart kills the pooled
    # connection, and the closing rollback raises); the answer was already made.
    @app.teardown_appcontext
    def release_session(_error: BaseException | None) -> None:
        try:
            db.session.remove()
        except DBAPIError as error:
            if not database_unavailable(error):
                raise
            app.logger.warning("database connection lost at the end of a request")
            with contextlib.suppress(Exception):
                db.session.remove()  # the connection is invalidated now: this one closes
            db.session.registry.clear()

    migrate.init_app(
        app,
        db,
        directory=str(PROJECT_ROOT / "migrations"),
        render_as_batch=True,
        compare_type=True,
        transactional_ddl=True,
    )
    origin.init_app(app)  # before CSRFProtect: a cross-origin POST is refused as such
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    compress.init_app(app)
    login_manager.init_app(app)
    # Session ids change at sign-in and the cookie is HttpOnly; Flask-Login's extra check
    # of the client's address would sign out customers whose mobile network changes it.
    login_manager.session_protection = None
    with app.app_context():
        configure_engine(db.engine)
    app.session_interface = ServerSessionInterface()
    app.before_request(refuse_unread_session)
    # Import the models so that migrations and tests see every table.
    import shop.accounts.models  # noqa: F401
    import shop.bag.models  # noqa: F401
    import shop.catalog.models  # noqa: F401
    import shop.checkout.models  # noqa: F401
    import shop.orders.models  # noqa: F401
    import shop.payments.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    """Attach each domain's views."""
    app.url_map.converters["int"] = BoundedInt  # before any route is added
    from shop.accounts.views import bp as accounts_bp
    from shop.bag.views import bp as bag_bp
    from shop.catalog.views import bp as catalog_bp
    from shop.checkout.views import bp as checkout_bp
    from shop.orders.admin import bp as orders_admin_bp
    from shop.orders.views import bp as orders_bp
    from shop.pages.views import bp as pages_bp
    from shop.payments.views import bp as payments_bp
    from shop.search.views import bp as search_bp

    app.register_blueprint(catalog_bp)
    app.register_blueprint(bag_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(checkout_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(orders_admin_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(search_bp)
    app.register_blueprint(pages_bp)


# ---------------------------------------------------------------- errors


def register_errors(app: Flask) -> None:
    """Styled error pages; an htmx request gets the message as a fragment."""

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        if isinstance(error, RateLimitExceeded) and error.response is not None:
            return error.response  # the view's own page (a form kept as typed)
        code = error.code or 500
        # A description given with abort() is meant for the visitor; Werkzeug's defaults
        # are replaced by the shop's own wording.
        detail = error.description if error.description != type(error).description else None
        if isinstance(error, CSRFError):
            return expired_form()
        if isinstance(error, RateLimitExceeded):
            detail = limit_retry_text()
        response = render_error(code, detail)
        for name, value in error.get_headers():
            if name.lower() not in {"content-type", "content-length"}:
                response.headers[name] = value
        return response

    def busy(error: BaseException) -> Response:
        app.logger.warning("database unavailable: %s", " ".join(str(error).split())[:300])
        # The session is not saved after this answer (shop/sessions.py): it would only
        # wait for the same database again. The page itself asks nothing of the database:
        # empty counters, and no customer to load.
        g.database_unavailable = True
        g.bag_counts = Counts(0, 0)
        g.wishlist_ids = frozenset()
        if "_login_user" not in g:
            g._login_user = login_manager.anonymous_user()
        with contextlib.suppress(Exception):
            db.session.rollback()
        response = render_error(503)
        response.headers["Retry-After"] = str(RETRY_AFTER)
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(DBAPIError)
    def handle_database_error(error: DBAPIError) -> Response:
        if database_unavailable(error):
            return busy(error)
        app.logger.error("database error", exc_info=error)
        return render_error(500)

    @app.errorhandler(InternalServerError)
    def handle_server_error(error: InternalServerError) -> Response:
        # Errors outside the view (opening or saving the session) arrive here wrapped.
        original = getattr(error, "original_exception", None)
        if database_unavailable(original):
            return busy(original)
        return render_error(500)

    @app.before_request
    def refuse_long_query() -> None:
        if len(request.query_string) > app.config["MAX_QUERY_LENGTH"]:
            raise RequestURITooLarge()


# ---------------------------------------------------------------- headers

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)
YEAR = 365 * 24 * 3600


_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def request_id() -> str:
    """This request's id: the proxy's X-Request-ID when it looks like one, else a new one.
    Sent back in X-Request-ID and written in gunicorn's access log (gunicorn.conf.py)."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
    return g.request_id


def register_headers(app: Flask) -> None:
    """Security headers on every answer; content-hashed static URLs cached for a year."""
    hashes: dict[str, tuple[float, str]] = {}
    # Brotli at its best level, once per file version: Flask-Compress would compress each
    # static answer again, at a fast level, as it streams (htmx alone is 52 KB), and has no
    # cache for streamed answers. Immutable files are worth compressing hard once.
    squeezed: dict[tuple[str, str], bytes] = {}
    # form-action also governs where a form's redirect may lead: the checkout and "Pay now"
    # answer 303 to Stripe Checkout, so its origin is allowed when Stripe is configured.
    csp = CSP
    if app.config.get("STRIPE_SECRET_KEY"):
        origin = app.config["STRIPE_CHECKOUT_ORIGIN"]
        csp = CSP.replace("form-action 'self';", f"form-action 'self' {origin};")

    def _brotli_static(response: Response, filename: str, digest: str | None) -> None:
        if (
            digest is None
            or response.mimetype not in app.config["COMPRESS_MIMETYPES"]
            or not request.accept_encodings["br"]
            or "Content-Encoding" in response.headers
        ):
            return
        body = squeezed.get((filename, digest))
        if body is None:
            raw = (Path(app.static_folder or "") / filename).read_bytes()
            body = squeezed[(filename, digest)] = brotli.compress(raw, quality=11)
        response.direct_passthrough = False
        response.set_data(body)
        response.headers["Content-Encoding"] = "br"
        response.vary.add("Accept-Encoding")
        etag, weak = response.get_etag()
        if etag:
            response.set_etag(f"{etag}-br", weak=weak)
        response.headers.pop("Accept-Ranges", None)  # ranges would be of the raw file
        response.make_conditional(request)

    def static_hash(filename: str) -> str | None:
        # Flask has no content-hashed static URLs; Flask-Static-Digest needs a build step
        # and a manifest. A hash computed on first use (again when the file changes) is enough.
        cached = hashes.get(filename)
        if cached is not None and not app.debug:
            return cached[1]  # served files do not change under a running server
        path = Path(app.static_folder or "") / filename
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        if cached is None or cached[0] != mtime:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
            cached = hashes[filename] = (mtime, digest)
        return cached[1]

    @app.url_defaults
    def add_static_hash(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static" and "filename" in values and "v" not in values:
            digest = static_hash(values["filename"])
            if digest:
                values["v"] = digest

    @app.after_request
    def set_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", csp)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config["HTTPS"]:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        headers["X-Request-ID"] = request_id()
        if response.mimetype == "text/html":
            # Every page carries the visitor's CSRF token (and counters): no shared cache may
            # keep one, and the browser asks again before reusing its own copy.
            headers.setdefault("Cache-Control", "private, no-cache")
        if request.endpoint == "static" and response.status_code == 200:
            filename = (request.view_args or {}).get("filename", "")
            digest = static_hash(filename)
            if request.args.get("v") and request.args.get("v") == digest:
                response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
                _brotli_static(response, filename, digest)
            else:
                response.headers["Cache-Control"] = "no-cache"
        return response


# ---------------------------------------------------------------- templates


def register_templates(app: Flask) -> None:
    """Filters and globals the templates use."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    app.jinja_env.globals["absolute_url"] = absolute_url
