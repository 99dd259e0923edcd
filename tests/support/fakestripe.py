"""A local stand-in for Stripe's API, for the calls the shop makes, spoken over real HTTP.

The shop's real stripe library talks to it (``STRIPE_API_BASE`` = ``FakeStripe.base_url``):

- ``POST /v1/checkout/sessions`` reads the form-encoded parameters as stripe-python sends
  them (``line_items[0][price_data][currency]=usd``...), honours ``Idempotency-Key`` (the
  same key gives the same session; the same key with other parameters is refused, as
  Stripe does) and answers a Checkout Session object.
- ``GET /v1/checkout/sessions/<id>`` answers the session as it is now.

A browser sent to a session's ``url`` gets a page standing in for Stripe's hosted Checkout:
its "Pay" button marks the session paid and sends the browser to the session's
``success_url`` (``{CHECKOUT_SESSION_ID}`` filled in), its "Cancel" link goes to the
``cancel_url``.

Tests steer it with plain methods: ``mark_paid``, ``mark_expired``, ``fail_next`` (500s),
``slow_next`` (answers after a delay), ``go_offline``/``come_back`` (connections dropped
unanswered), and read ``requests`` (every request it read). ``signed_event`` builds a webhook
delivery signed the way Stripe signs it.
"""

from __future__ import annotations

import html
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import stripe

API_VERSION = "2025-01-27.acacia"
_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


@dataclass
class Recorded:
    """One request the fake read: method, path, flat form fields, nested params, headers."""

    method: str
    path: str
    form: dict[str, str]
    params: dict[str, Any]
    headers: dict[str, str] = field(repr=False)

    def header(self, name: str) -> str | None:
        """A header's value, whatever its case."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


def unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``a[b][0][c]=x`` pairs into nested dicts; dicts keyed 0, 1, 2... become lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        parts = [head, *_KEY_PART.findall(key[len(head) :])]
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {key: _lists(value) for key, value in node.items()}
    if converted and all(key.isdigit() for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted


def _error(status: int, kind: str, message: str, code: str | None = None) -> tuple[int, dict]:
    return status, {"error": {"type": kind, "message": message, "code": code}}


class FakeStripe:
    """A threaded HTTP server on 127.0.0.1 and a free port that plays Stripe's API."""

    def __init__(self, api_key: str | None = None):
        self.api_key = api_key  # when set, requests must carry it as their Bearer token
        self.sessions: dict[str, dict[str, Any]] = {}
        self.requests: list[Recorded] = []
        self._idempotent: dict[str, tuple[dict[str, Any], str]] = {}
        self._first: dict[str, dict[str, Any]] = {}  # each session as first answered
        self._lock = threading.Lock()
        self._fail: list[int] = []  # statuses of the next answers to fail
        self._slow: list[float] = []  # delays of the next answers
        self._offline = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True  # a slow answer never holds up stop()
        self._thread: threading.Thread | None = None
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeStripe:
        """Serve on a background thread; returns self."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- test controls

    def mark_paid(self, session_id: str, payment_status: str = "paid") -> dict[str, Any]:
        """The buyer completed Checkout (``payment_status`` "unpaid" for a delayed method)."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status=payment_status, url=None)
            return dict(session)

    def mark_expired(self, session_id: str) -> dict[str, Any]:
        """The session expired unpaid."""
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="expired", url=None)
            return dict(session)

    def fail_next(self, count: int, status: int = 500) -> None:
        """The next ``count`` requests answer ``status`` with an API error."""
        with self._lock:
            self._fail.extend([status] * count)

    def slow_next(self, count: int, seconds: float) -> None:
        """The next ``count`` requests are answered after ``seconds``."""
        with self._lock:
            self._slow.extend([seconds] * count)

    def go_offline(self) -> None:
        """Drop every connection unanswered, as if Stripe could not be reached."""
        self._offline = True

    def come_back(self) -> None:
        """Answer again."""
        self._offline = False

    def session(self, session_id: str) -> dict[str, Any]:
        """A copy of the session as it is now."""
        with self._lock:
            return json.loads(json.dumps(self.sessions[session_id]))

    def created(self) -> list[Recorded]:
        """The session-creating requests read so far (retries included)."""
        return [
            recorded
            for recorded in self.requests
            if recorded.method == "POST" and recorded.path == "/v1/checkout/sessions"
        ]

    def event(
        self, event_type: str, session_id: str, secret: str, **options: Any
    ) -> tuple[bytes, dict[str, str]]:
        """A signed webhook delivery about the session as it is now (see ``signed_event``)."""
        return signed_event(event_type, self.session(session_id), secret, **options)

    # ---------------------------------------------------------------- the API

    def _answer(self, method: str, path: str, form: dict[str, Any], headers) -> tuple[int, dict]:
        if self.api_key and headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        if method == "POST" and path == "/v1/checkout/sessions":
            return self._create(form, headers.get("Idempotency-Key"))
        match = re.fullmatch(r"/v1/checkout/sessions/([A-Za-z0-9_]+)", path)
        if method == "GET" and match:
            with self._lock:
                session = self.sessions.get(match[1])
                if session is None:
                    return _error(
                        404,
                        "invalid_request_error",
                        f"No such checkout.session: '{match[1]}'",
                        "resource_missing",
                    )
                return 200, dict(session)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})")

    def _create(self, params: dict[str, Any], key: str | None) -> tuple[int, dict]:
        with self._lock:
            if key and key in self._idempotent:
                seen, session_id = self._idempotent[key]
                if seen != params:
                    return _error(
                        400,
                        "idempotency_error",
                        "Keys for idempotent requests can only be used with the same "
                        "parameters they were first used with.",
                    )
                # Stripe replays the first answer: the session as it was created.
                return 200, dict(self._first[session_id])
            session_id = "cs_test_" + secrets.token_hex(16)
            lines = params.get("line_items") or []
            amount = sum(
                int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
                for line in lines
            )
            currency = lines[0]["price_data"]["currency"] if lines else "usd"
            now = int(time.time())
            session = {
                "id": session_id,
                "object": "checkout.session",
                "livemode": False,
                "mode": params.get("mode"),
                "status": "open",
                "payment_status": "unpaid",
                "url": f"{self.base_url}/c/pay/{session_id}",
                "client_reference_id": params.get("client_reference_id"),
                "metadata": params.get("metadata") or {},
                "customer_email": params.get("customer_email"),
                "amount_subtotal": amount,
                "amount_total": amount,
                "currency": currency,
                "success_url": params.get("success_url"),
                "cancel_url": params.get("cancel_url"),
                "created": now,
                "expires_at": now + 24 * 3600,
                "payment_intent": None,
            }
            self.sessions[session_id] = session
            self._first[session_id] = dict(session)
            if key:
                self._idempotent[key] = (params, session_id)
            return 200, dict(session)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def handle(self) -> None:
                if fake._offline:
                    # Close without reading or answering: the client sees the connection
                    # reset or closed, as when Stripe cannot be reached.
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                super().handle()

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else url.query
                pairs = parse_qsl(body, keep_blank_values=True)
                params = unflatten(pairs)
                headers = dict(self.headers.items())
                with fake._lock:
                    fake.requests.append(Recorded(method, url.path, dict(pairs), params, headers))
                    fail = fake._fail.pop(0) if fake._fail else None
                    delay = fake._slow.pop(0) if fake._slow else 0.0
                if delay:
                    time.sleep(delay)
                if url.path.startswith("/c/pay/"):
                    self._hosted(method, url.path.removeprefix("/c/pay/"))
                    return
                if fail:
                    status, answer = _error(fail, "api_error", "Something went wrong (fake).")
                else:
                    status, answer = fake._answer(method, url.path, params, headers)
                self._send(status, json.dumps(answer).encode(), "application/json")

            def _hosted(self, method: str, session_id: str) -> None:
                """The hosted Checkout page of an open session: GET shows it, POST pays."""
                with fake._lock:
                    found = fake.sessions.get(session_id)
                    session = dict(found) if found is not None else None
                if session is None or session["status"] != "open":
                    self._send(200, b"<!doctype html><title>Fake Checkout</title>", "text/html")
                    return
                if method == "POST":
                    paid = fake.mark_paid(session_id)
                    target = paid["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
                    self.send_response(303)
                    self.send_header("Location", target)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send(200, _hosted_page(session).encode(), "text/html; charset=utf-8")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Request-Id", "req_" + secrets.token_hex(8))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (its timeout): nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: pytest shows the test's own output

        return Handler


def _hosted_page(session: dict[str, Any]) -> str:
    """The fake's stand-in for Stripe's hosted Checkout page of ``session``."""
    amount = int(session.get("amount_total") or 0)
    currency = str(session.get("currency") or "usd").upper()
    escape = html.escape
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<title>Fake Checkout</title><link rel="icon" href="data:,"></head><body><main>'
        f"<h1>Pay {escape(currency)} {amount / 100:,.2f}</h1>"
        f"<p>{escape(str(session.get('customer_email') or ''))}</p>"
        f'<form method="post" action="/c/pay/{escape(session["id"])}">'
        '<button type="submit">Pay</button></form>'
        f'<p><a href="{escape(str(session.get("cancel_url") or ""))}">Cancel</a></p>'
        "</main></body></html>"
    )


def signed_event(
    event_type: str,
    session: dict[str, Any],
    secret: str,
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
    created: int | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A webhook delivery: the event JSON (``data.object`` = the session) and its headers,
    with ``Stripe-Signature`` computed as Stripe does (``timestamp`` defaults to now)."""
    event = {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": API_VERSION,
        "created": created if created is not None else int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": session},
    }
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)
    return payload.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}
