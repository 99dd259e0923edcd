"""Configuration defaults.

Every key here can be overridden by ``instance/config.py`` and then by an environment
variable with the ``SHOP_`` prefix (``SHOP_DATABASE_URL``, ``SHOP_HTTPS=true``...).
Environment values are parsed as JSON where they can be, so numbers and booleans work.
"""

from datetime import timedelta


class Defaults:
    """Settings that hold unless instance/config.py or SHOP_* variables say otherwise."""

    # The database. None means the SQLite file instance/shop.sqlite3.
    DATABASE_URL: str | None = None
    # Secret for sessions and CSRF tokens; None means "generate one into instance/secret_key".
    SECRET_KEY: str | None = None
    # Set to true when the shop is served over HTTPS: cookies get the Secure flag, links use
    # https and answers carry HSTS.
    HTTPS = False
    # Trust X-Forwarded-For/-Proto/-Host from this many reverse proxies in front of the app
    # (0: none; the client address is then the connection's).
    TRUSTED_PROXIES = 0
    # The public origin of every absolute address the shop writes (mail links, Stripe's
    # return addresses, canonical links, Open Graph, the sitemap), e.g.
    # "https://shop.example"; its host is allowed. None means "the request's host", which
    # must then be one of ALLOWED_HOSTS.
    PUBLIC_URL: str | None = None
    # Host names the shop answers for besides PUBLIC_URL's; a request for any other host is
    # refused with 400 before anything runs. A list, or names separated by commas; a name
    # starting with a dot allows its subdomains.
    ALLOWED_HOSTS: tuple[str, ...] | list[str] | str = ("127.0.0.1", "localhost")
    # How long an idle visitor's session lives.
    SESSION_LIFETIME_DAYS = 30
    # Largest request body accepted, in bytes: a checkout filled to every limit with
    # non-Latin text (three bytes a character, percent-encoded) stays below it.
    MAX_CONTENT_LENGTH = 256 * 1024
    # Longest query string accepted, in bytes; longer ones answer 414. Large enough that a
    # 10,000-character search reaching the app gets a results page (the search cuts the
    # query at 100 characters). gunicorn (gunicorn.conf.py) refuses request lines over
    # 8,190 bytes before the app sees them.
    MAX_QUERY_LENGTH = 64 * 1024
    # Where the shop's notifications of new orders go; None means the MAIL_FROM address.
    ORDERS_EMAIL: str | None = None
    # Stripe: Checkout is used when a secret key is set.
    STRIPE_SECRET_KEY: str | None = None
    STRIPE_WEBHOOK_SECRET: str | None = None
    STRIPE_API_BASE: str | None = None
    # Where Stripe Checkout pages live: the checkout's redirect goes there, so the Content
    # Security Policy's form-action allows it (only when Stripe is configured).
    STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
    # Seconds to wait for Stripe per attempt (two retries follow a timeout).
    STRIPE_TIMEOUT = 10
    # How often each process asks the database whether the catalogue changed (its shelf,
    # shop/catalog/shelf.py): a catalogue loaded on one server shows on the others within it.
    CATALOG_CHECK_SECONDS = 1.0
    # Rate limits storage (flask-limiter URI). None means a SQLite file in the instance folder
    # (shop/ratelimit_storage.py) shared by every worker of this machine; several servers
    # need a shared one such as redis://127.0.0.1:6379/0 (memory:// counts per process).
    RATELIMIT_STORAGE_URI: str | None = None
    # Failed sign-ins (shop/accounts/throttle.py): per client address, per client and email
    # address typed, and per address over all clients (a ceiling that stops only clients
    # which failed for that address themselves, so the owner is never locked out).
    RATELIMIT_SIGN_IN = "10 per minute;100 per day"
    RATELIMIT_SIGN_IN_EMAIL = "5 per minute;30 per day"
    RATELIMIT_SIGN_IN_EMAIL_CEILING = "50 per hour;300 per day"
    # Orders placed (each mails the address typed and the owner), per client address and
    # per email address typed; a form refused or sent twice does not count.
    RATELIMIT_ORDER = "10 per hour;30 per day"
    RATELIMIT_ORDER_EMAIL = "5 per hour;10 per day"
    # The owner's notifications of orders: one mail per order up to this many, then held
    # and named in the next one (shop/orders/notifications.py), with a note that they are
    # held at most this often.
    RATELIMIT_OWNER_MAIL = "5 per 10 minutes;30 per day"
    RATELIMIT_OWNER_MAIL_NOTICE = "1 per 10 minutes"
    # Limits on the other account forms (POSTs only), per client address and per email
    # address typed.
    RATELIMIT_REGISTER = "5 per minute;30 per day"
    RATELIMIT_REGISTER_EMAIL = "3 per minute;10 per day"
    RATELIMIT_RESET = "5 per minute;30 per day"
    RATELIMIT_RESET_EMAIL = "3 per hour"
    # Retry-After (and X-RateLimit-*) headers on limited views.
    RATELIMIT_HEADERS_ENABLED = True
    # Sender of the shop's mail (From header); its domain also ends each Message-ID.
    MAIL_FROM = "Edge goods <shop@localhost>"
    # The SMTP server. None means "write each message to instance/outbox/ as an .eml file".
    SMTP_HOST: str | None = None
    # None means the usual port of SMTP_SECURITY: 587 (starttls), 465 (tls), 25 (none).
    SMTP_PORT: int | None = None
    # "starttls" (upgrade the connection; refuse servers that cannot), "tls" (TLS from the
    # first byte) or "none" (plain text, only for a relay on the same machine).
    SMTP_SECURITY = "starttls"
    # Log in to the SMTP server as this user; None means "do not log in".
    SMTP_USERNAME: str | None = None
    # The SMTP user's password (never logged).
    SMTP_PASSWORD: str | None = None
    # Seconds to wait for the SMTP server to connect or answer.
    SMTP_TIMEOUT = 10
    # A CA bundle (PEM file) to trust for the SMTP server's certificate instead of the
    # system's CAs, e.g. for a relay with a private CA. None means the system's.
    SMTP_CA_FILE: str | None = None
    # The studio's details, put into the privacy, terms, refunds and contact pages
    # (shop/pages/). The defaults in brackets are there to be replaced. The address may be
    # a list of lines, or one text with a line break between lines.
    STUDIO_NAME = "[Studio name]"
    STUDIO_ADDRESS: str | tuple[str, ...] | list[str] = (
        "[Street and number]",
        "[Postcode and town]",
        "[Country]",
    )
    STUDIO_EMAIL = "[contact email address]"
    STUDIO_VAT_ID = "[VAT ID]"
    STUDIO_REGISTER = "[Commercial register and number, or: not registered]"

    # Invoices (invoice mode): days until payment is due, how to pay (bank details, as lines
    # or one text), and a closing note (such as a reverse-charge sentence), all printed on
    # every invoice. The seller is the studio above.
    INVOICE_DUE_DAYS = 14
    INVOICE_PAYMENT_DETAILS: str | tuple[str, ...] | list[str] = (
        "[Bank transfer: account holder, IBAN, BIC]",
    )
    INVOICE_NOTE = ""

    # Scoping calls (shop/calls/): the studio's time zone, an IANA name such as
    # "Europe/Berlin". Its weekly hours (set at /admin/calls/hours) are wall-clock times in
    # this zone; an unknown name stops the start.
    STUDIO_TIMEZONE = "Europe/Berlin"

    # Fixed Flask settings derived from the ones above in create_app.
    SESSION_COOKIE_NAME = "shop_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    PERMANENT_SESSION_LIFETIME = timedelta(days=30)
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    COMPRESS_MIMETYPES = [
        "text/html",
        "text/css",
        "text/xml",
        "application/xml",
        "application/javascript",
        "text/javascript",
        "image/svg+xml",
        "application/json",
    ]
    COMPRESS_MIN_SIZE = 500
    COMPRESS_ALGORITHM = ["gzip"]
