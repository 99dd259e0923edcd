"""Outgoing mail: compose a message from templates, then deliver it now or in the background.

Where mail goes depends on the configuration:

- ``SHOP_SMTP_HOST`` set: the message is sent over SMTP (``SHOP_SMTP_SECURITY`` chooses
  STARTTLS, implicit TLS or plain text; ``SHOP_SMTP_USERNAME``/``SHOP_SMTP_PASSWORD`` log in).
- Otherwise each message is written as an ``.eml`` file to ``<instance_path>/outbox/`` and its
  path is logged (logger ``shop.mail``, level INFO), so the shop works on a laptop without a
  mail server: open the file in a mail client or read it with ``cat``.

Only this module talks SMTP. A message is built by :func:`compose` from ``mail/<name>.txt``
and ``mail/<name>.html`` (a ``multipart/alternative`` message), delivered by :func:`send`
while the caller waits, or by :func:`send_later` on a background thread, so that a view
answers in the same time whether or not it sends mail (a password reset must not reveal by
its timing whether an address has an account). :func:`wait_for_outgoing` waits for the
background deliveries (tests, shutdown).

Neither message bodies nor passwords are ever logged: bodies can hold sign-in links.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import secrets
import smtplib
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Any

from flask import current_app, render_template

from shop.clock import now

log = logging.getLogger(__name__)

SECURITY_PORTS = {"starttls": 587, "tls": 465, "none": 25}
OUTBOX = "outbox"


class MailError(RuntimeError):
    """The SMTP server could not be reached, refused the login or refused the message."""


@dataclass(frozen=True)
class MailSettings:
    """The configuration a delivery needs, captured in the app context.

    A background thread has no app context, so it gets one of these instead of reading
    ``current_app.config``.
    """

    outbox: Path
    host: str | None
    port: int
    security: str
    username: str | None
    # repr=False keeps the password out of logs, tracebacks and debugger output.
    password: str | None = field(repr=False)
    timeout: float
    ca_file: str | None


def current_settings() -> MailSettings:
    """Read and check the mail settings of the current app (needs an app context)."""
    config = current_app.config
    security = str(config.get("SMTP_SECURITY") or "starttls").lower()
    if security not in SECURITY_PORTS:
        choices = ", ".join(SECURITY_PORTS)
        raise ValueError(f"SHOP_SMTP_SECURITY must be one of {choices}; got {security!r}")
    port = config.get("SMTP_PORT")
    return MailSettings(
        outbox=Path(current_app.instance_path) / OUTBOX,
        host=config.get("SMTP_HOST") or None,
        port=int(port) if port else SECURITY_PORTS[security],
        security=security,
        username=config.get("SMTP_USERNAME") or None,
        password=config.get("SMTP_PASSWORD") or None,
        timeout=float(config.get("SMTP_TIMEOUT") or 10),
        ca_file=config.get("SMTP_CA_FILE") or None,
    )


# ---------------------------------------------------------------- composing


def _check_header(name: str, value: str) -> None:
    # A CR or LF in a header value would let whoever supplied it (an address typed into a
    # form) add headers of their own, such as Bcc. The email package does not refuse them
    # on every Python version, so refuse them here, before anything is rendered.
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"{name} must not contain line breaks or NUL characters")
    if not value.strip():
        raise ValueError(f"{name} must not be empty")


def compose(to: str, subject: str, template: str, /, **context: Any) -> EmailMessage:
    """Build a message to ``to`` from ``mail/<template>.txt`` and ``mail/<template>.html``.

    Both templates are rendered with Flask's ``render_template`` (so this needs an app
    context) and get ``context`` plus ``subject``. The result is ``multipart/alternative``
    with From (``MAIL_FROM``), To, Subject, Date and Message-ID. Raises ``ValueError``
    when ``to`` or ``subject`` holds a line break (header injection).
    """
    _check_header("to", to)
    _check_header("subject", subject)
    context.setdefault("subject", subject)
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)

    sender = current_app.config["MAIL_FROM"]
    # The Message-ID's domain is the sender's: make_msgid would otherwise ask the resolver
    # for this machine's name, which is slow on some hosts and says nothing useful.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now())
    message["Message-ID"] = make_msgid(domain=domain)
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message


# ---------------------------------------------------------------- delivering


def send(message: EmailMessage) -> str | None:
    """Deliver ``message`` now (needs an app context).

    Returns the path of the ``.eml`` file when it went to the outbox, None when it went
    over SMTP. Raises :class:`MailError` when the SMTP server cannot be reached or refuses
    the login or the message.
    """
    return _deliver(message, current_settings())


def _deliver(message: EmailMessage, settings: MailSettings) -> str | None:
    if settings.host:
        _send_smtp(message, settings)
        return None
    return _write_outbox(message, settings.outbox)


def _send_smtp(message: EmailMessage, settings: MailSettings) -> None:
    host, port = settings.host or "", settings.port
    where = f"{host}:{port} ({settings.security})"
    # Verify the server's certificate and name; with SMTP_CA_FILE only that bundle is
    # trusted (a private relay), otherwise the system's CAs.
    context = ssl.create_default_context(cafile=settings.ca_file)
    try:
        if settings.security == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=settings.timeout)
        with client:
            if settings.security == "starttls":
                # Raises when the server does not offer STARTTLS: never fall back to sending
                # the password and the message in plain text.
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, settings.password or "")
            client.send_message(message)
    except smtplib.SMTPAuthenticationError as error:
        reason = _reply_text(error.smtp_code, error.smtp_error)
        raise MailError(
            f"SMTP server {where} refused the login of {settings.username!r}: {reason}"
        ) from error
    except smtplib.SMTPNotSupportedError as error:
        raise MailError(f"SMTP server {where}: {error}") from error
    except smtplib.SMTPResponseException as error:
        reason = _reply_text(error.smtp_code, error.smtp_error)
        raise MailError(f"SMTP server {where} refused the message: {reason}") from error
    except (smtplib.SMTPException, OSError) as error:
        # OSError covers refused connections, timeouts and certificate failures (SSLError).
        raise MailError(f"could not send mail through {where}: {error}") from error
    log.info("Mail %s sent through %s", message.get("Message-ID", "?"), where)


def _reply_text(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}"


def _write_outbox(message: EmailMessage, outbox: Path) -> str:
    # 0700/0600: the files can hold sign-in and password-reset links.
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Write to a private temporary file (mkstemp makes it 0600) and rename it into place,
    # so whoever watches the folder never sees a half-written message.
    fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            # CRLF line ends, as the message would travel over SMTP.
            handle.write(message.as_bytes(policy=SMTP_POLICY))
        stamp = now().strftime("%Y%m%dT%H%M%SZ")
        path = outbox / f"{stamp}-{secrets.token_hex(6)}.eml"
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("Mail %s written to %s", message.get("Message-ID", "?"), path)
    return str(path)


# ---------------------------------------------------------------- in the background

# One or two workers are plenty: mail is rare, and each delivery mostly waits on the network.
_WORKERS = 2
_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_pending: set[concurrent.futures.Future[str | None]] = set()


def _executor_for_this_process() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            # Created on first use rather than at import: gunicorn imports the app before it
            # forks its workers, and threads do not survive a fork.
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=_WORKERS, thread_name_prefix="shop-mail"
            )
        return _executor


def _forget_executor_after_fork() -> None:
    # In a forked child the parent's worker threads do not exist and the lock may be held
    # by a thread that is gone: start again with a fresh lock and no executor.
    global _executor, _lock, _pending
    _executor = None
    _lock = threading.Lock()
    _pending = set()


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_executor_after_fork)


def _deliver_logged(message: EmailMessage, settings: MailSettings) -> str | None:
    # Nobody waits on the future in a view, so an exception would vanish with it.
    try:
        return _deliver(message, settings)
    except Exception:
        log.exception("Background delivery of mail %s failed", message.get("Message-ID", "?"))
        return None


def send_later(message: EmailMessage) -> concurrent.futures.Future[str | None]:
    """Deliver ``message`` on a background thread; returns at once (needs an app context).

    The settings are read now, in the app context, so the thread needs none. The future's
    result is what :func:`send` returns, or None when delivery failed: failures are logged
    on ``shop.mail``, not raised, since the request that queued the message is long gone.
    """
    settings = current_settings()
    future = _executor_for_this_process().submit(_deliver_logged, message, settings)
    with _lock:
        _pending.add(future)
    future.add_done_callback(_discard)
    return future


def _discard(future: concurrent.futures.Future[str | None]) -> None:
    with _lock:
        _pending.discard(future)


def wait_for_outgoing(timeout: float = 10) -> bool:
    """Wait up to ``timeout`` seconds for the queued background deliveries.

    Returns True when all of them finished. The interpreter also waits for them at exit,
    so this is for tests and for an orderly shutdown with a time limit.
    """
    with _lock:
        pending = list(_pending)
    _, not_done = concurrent.futures.wait(pending, timeout=timeout)
    return not not_done
