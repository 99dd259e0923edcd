"""Outgoing mail: the outbox folder, and real SMTP servers (aiosmtpd) with and without TLS."""

from __future__ import annotations

import email
import email.policy
import logging
import os
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from flask import Flask
from jinja2 import ChoiceLoader, FileSystemLoader

from shop import create_app, mail
from shop.extensions import db
from tests.support.database import TEST_SECRET
from tests.support.live import free_port

TEMPLATES = Path(__file__).parent / "mail_templates"
USER, PASSWORD = "shop-relay", "correct horse battery staple"
NO_SMTP = {
    "SMTP_HOST": None,
    "SMTP_PORT": None,
    "SMTP_SECURITY": "starttls",
    "SMTP_USERNAME": None,
    "SMTP_PASSWORD": None,
    "SMTP_CA_FILE": None,
    "SMTP_TIMEOUT": 5,
}


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator:
    """Build apps that find the test mail templates; SMTP settings default to "none set"
    (explicitly, so SHOP_SMTP_* variables in the environment do not leak in)."""
    apps: list[Flask] = []

    def make(**config) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "INSTANCE_PATH": tmp_path / "instance",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'mail.sqlite3'}",
                "SECRET_KEY": TEST_SECRET,
                **NO_SMTP,
                **config,
            }
        )
        # The test templates first, then the shop's (for mail/_layout.html).
        app.jinja_env.loader = ChoiceLoader([FileSystemLoader(TEMPLATES), app.jinja_env.loader])
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.engine.dispose()


def hello(app: Flask, to: str = "ada@example.com"):
    with app.app_context():
        return mail.compose(to, "Your review is booked", "hello", name="Ada <& Co>", offer="R2")


class Collector:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "content": envelope.content,
                "auth_data": session.auth_data,
                "tls": session.ssl is not None,
            }
        )
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts USER/PASSWORD and records every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.attempts.append((mechanism, auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)


@pytest.fixture
def smtp_server() -> Iterator:
    """Start aiosmtpd controllers on free local ports; stopped after the test."""
    controllers: list[Controller] = []

    def start(**smtp_options) -> tuple[Collector, int]:
        handler = Collector()
        port = free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="mail.test", **smtp_options
        )
        controller.start()
        controllers.append(controller)
        return handler, port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls(ca: trustme.CA, tmp_path: Path) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a certificate for 127.0.0.1, and the CA file that trusts it."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return context, str(ca_file)


def parts(raw: bytes) -> tuple[email.message.EmailMessage, str, str]:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return message, text, html


# ---------------------------------------------------------------- outbox


def test_without_smtp_a_message_goes_to_the_outbox(make_app, caplog):
    app = make_app()
    message = hello(app)
    outbox = Path(app.instance_path) / "outbox"
    assert not outbox.exists()
    caplog.set_level(logging.DEBUG)

    with app.app_context():
        path = mail.send(message)

    assert path is not None
    file = Path(path)
    assert file.parent == outbox
    assert file.name.endswith(".eml")
    assert [p.name for p in outbox.iterdir()] == [file.name]  # no temporary file left
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE(outbox.stat().st_mode) & 0o077 == 0

    parsed, text, html = parts(file.read_bytes())
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["From"] == "Edge goods <shop@localhost>"
    assert parsed["To"] == "ada@example.com"
    assert parsed["Subject"] == "Your review is booked"
    assert parsed["Date"].datetime is not None
    assert parsed["Message-ID"].endswith("@localhost>")
    # The file has CRLF line ends, as on the wire.
    assert text.replace("\r\n", "\n") == "Hello Ada <& Co>,\n\nyour review of R2 is booked.\n"
    assert "<p>Hello Ada &lt;&amp; Co&gt;,</p>" in html  # escaped in HTML only
    assert "<strong>R2</strong>" in html
    assert "<title>Your review is booked</title>" in html  # the layout got the subject

    logged = [r for r in caplog.records if r.name == "shop.mail"]
    assert [r.levelno for r in logged] == [logging.INFO]
    assert path in logged[0].getMessage()
    assert "booked" not in caplog.text  # nothing of the body


def test_message_id_domain_follows_mail_from(make_app):
    app = make_app(MAIL_FROM="Edge goods <hello@shop.example>")
    message = hello(app)
    assert message["From"] == "Edge goods <hello@shop.example>"
    assert message["Message-ID"].endswith("@shop.example>")


@pytest.mark.parametrize(
    ("to", "subject"),
    [
        ("ada@example.com\r\nBcc: eve@example.com", "Hello"),
        ("ada@example.com\nBcc: eve@example.com", "Hello"),
        ("ada@example.com", "Hello\r\nBcc: eve@example.com"),
        ("ada@example.com", "Hello\rX-Evil: 1"),
        ("", "Hello"),
    ],
)
def test_header_injection_is_refused(make_app, to, subject):
    app = make_app()
    with app.app_context(), pytest.raises(ValueError):
        mail.compose(to, subject, "hello", name="Ada", offer="R2")


def test_unknown_security_stops_the_start_clearly(make_app):
    # At start-up, not at the first mail: a reset request would otherwise fail only for
    # addresses that have an account.
    with pytest.raises(ValueError, match="SHOP_SMTP_SECURITY.*'ssl'"):
        make_app(SMTP_SECURITY="ssl")


@pytest.mark.parametrize(
    ("security", "port", "expected"),
    [("starttls", None, 587), ("tls", None, 465), ("none", None, 25), ("TLS", 2465, 2465)],
)
def test_port_follows_security(make_app, security, port, expected):
    app = make_app(SMTP_SECURITY=security, SMTP_PORT=port, SMTP_PASSWORD="hidden")
    with app.app_context():
        settings = mail.current_settings()
    assert settings.port == expected
    assert settings.security == security.lower()
    assert "hidden" not in repr(settings)


# ---------------------------------------------------------------- SMTP


def test_plain_smtp_delivers_to_the_server(make_app, smtp_server):
    handler, port = smtp_server()
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none")
    message = hello(app, to="Ada Lovelace <ada@example.com>")

    with app.app_context():
        assert mail.send(message) is None

    [received] = handler.received
    assert received["mail_from"] == "shop@localhost"
    assert received["rcpt_tos"] == ["ada@example.com"]
    assert received["auth_data"] is None
    parsed, text, html = parts(received["content"])
    assert parsed["Subject"] == "Your review is booked"
    assert parsed["Message-ID"] == message["Message-ID"]
    assert "your review of R2 is booked." in text
    assert "<strong>R2</strong>" in html
    assert not (Path(app.instance_path) / "outbox").exists()


def test_starttls_with_login(make_app, smtp_server, tls, caplog):
    server_context, ca_file = tls
    authenticator = Authenticator()
    handler, port = smtp_server(
        tls_context=server_context, require_starttls=True, authenticator=authenticator
    )
    app = make_app(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="starttls",
        SMTP_USERNAME=USER,
        SMTP_PASSWORD=PASSWORD,
        SMTP_CA_FILE=ca_file,
    )
    message = hello(app)
    caplog.set_level(logging.DEBUG)

    with app.app_context():
        assert mail.send(message) is None

    assert [(login, password) for _, login, password in authenticator.attempts] == [
        (USER.encode(), PASSWORD.encode())
    ]
    [received] = handler.received
    assert received["tls"]
    assert received["auth_data"] == USER.encode()
    assert received["rcpt_tos"] == ["ada@example.com"]
    assert "your review of R2 is booked." in parts(received["content"])[1]
    assert PASSWORD not in caplog.text


def test_wrong_password_raises_a_clear_error(make_app, smtp_server, tls, caplog):
    server_context, ca_file = tls
    handler, port = smtp_server(
        tls_context=server_context, require_starttls=True, authenticator=Authenticator()
    )
    app = make_app(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_USERNAME=USER,
        SMTP_PASSWORD="wrong password",
        SMTP_CA_FILE=ca_file,
    )
    message = hello(app)
    caplog.set_level(logging.DEBUG)

    with app.app_context(), pytest.raises(mail.MailError, match="refused the login") as caught:
        mail.send(message)

    assert f"127.0.0.1:{port}" in str(caught.value)
    assert USER in str(caught.value)
    assert "wrong password" not in str(caught.value)
    assert "wrong password" not in caplog.text
    assert handler.received == []


def test_an_untrusted_certificate_is_refused(make_app, smtp_server, tls):
    server_context, _ = tls
    handler, port = smtp_server(tls_context=server_context, require_starttls=True)
    # No SMTP_CA_FILE: the system's CAs do not know the test CA.
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="starttls")
    message = hello(app)

    with app.app_context(), pytest.raises(mail.MailError, match="CERTIFICATE_VERIFY_FAILED"):
        mail.send(message)
    assert handler.received == []


def test_starttls_is_required_when_asked_for(make_app, smtp_server):
    handler, port = smtp_server()  # offers no STARTTLS
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="starttls")
    message = hello(app)

    with app.app_context(), pytest.raises(mail.MailError, match="STARTTLS"):
        mail.send(message)
    assert handler.received == []


def test_implicit_tls(make_app, smtp_server, tls):
    server_context, ca_file = tls
    handler, port = smtp_server(ssl_context=server_context)
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="tls", SMTP_CA_FILE=ca_file)
    message = hello(app)

    with app.app_context():
        assert mail.send(message) is None

    [received] = handler.received
    assert "your review of R2 is booked." in parts(received["content"])[1]


# ---------------------------------------------------------------- in the background


def test_send_later_delivers_to_the_outbox(make_app):
    app = make_app()
    message = hello(app)

    with app.app_context():
        future = mail.send_later(message)
    # Outside the app context from here on: the thread must not need one.
    assert mail.wait_for_outgoing(timeout=10)

    path = future.result(timeout=0)
    assert path is not None
    assert Path(path).parent == Path(app.instance_path) / "outbox"
    parsed, text, _ = parts(Path(path).read_bytes())
    assert parsed["Message-ID"] == message["Message-ID"]
    assert "your review of R2 is booked." in text


def test_send_later_logs_failures_instead_of_raising(make_app, caplog):
    port = free_port()  # nothing listens there
    app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_SECURITY="none", SMTP_TIMEOUT=2)
    message = hello(app)

    with app.app_context():
        future = mail.send_later(message)
    assert mail.wait_for_outgoing(timeout=10)

    assert future.result(timeout=0) is None
    [record] = [r for r in caplog.records if r.name == "shop.mail"]
    assert record.levelno == logging.ERROR
    assert record.exc_info and isinstance(record.exc_info[1], mail.MailError)
    assert f"127.0.0.1:{port}" in str(record.exc_info[1])


def test_wait_for_outgoing_without_anything_queued():
    assert mail.wait_for_outgoing(timeout=0.1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_without_the_parents_executor(make_app):
    app = make_app()
    with app.app_context():
        mail.send_later(hello(app))
    assert mail.wait_for_outgoing(timeout=10)
    assert mail._executor is not None

    pid = os.fork()
    if pid == 0:  # the child: report by exit status only, never return into pytest
        os._exit(0 if mail._executor is None and not mail._pending else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
