"""The edge goods shop: ``create_app`` builds the Flask application."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from shop import errors, headers, mail, origin, urls
from shop.bag import offer_forms
from shop.calls.zones import studio_zone
from shop.catalog import shelf
from shop.config import Defaults
from shop.db import configure_engine, database_unavailable
from shop.extensions import compress, csrf, db, htmx, limiter, login_manager, migrate
from shop.hosts import HostGuard, allowed_hosts
from shop.sessions import ServerSessionInterface, refuse_unread_session
from shop.urls import absolute_url
from shop.web import BoundedInt, format_money

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
    errors.init_app(app)
    headers.init_app(app)
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
    studio_zone(app.config)
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
    import shop.calls.models  # noqa: F401
    import shop.catalog.models  # noqa: F401
    import shop.checkout.models  # noqa: F401
    import shop.funnel  # noqa: F401
    import shop.orders.models  # noqa: F401
    import shop.payments.models  # noqa: F401


def register_blueprints(app: Flask) -> None:
    """Attach each domain's views."""
    app.url_map.converters["int"] = BoundedInt  # before any route is added
    from shop.accounts.views import bp as accounts_bp
    from shop.bag.views import bp as bag_bp
    from shop.calls.admin import bp as calls_admin_bp
    from shop.calls.views import bp as calls_bp
    from shop.catalog.views import bp as catalog_bp
    from shop.checkout.views import bp as checkout_bp
    from shop.dashboard.views import bp as dashboard_bp
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
    app.register_blueprint(calls_bp)
    app.register_blueprint(calls_admin_bp)
    app.register_blueprint(orders_admin_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(payments_bp)
    app.register_blueprint(search_bp)
    app.register_blueprint(pages_bp)


# ---------------------------------------------------------------- templates


def register_templates(app: Flask) -> None:
    """Filters and globals the templates use."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    app.jinja_env.globals["absolute_url"] = absolute_url
