"""The README's nginx site in front of the shop: HTTPS, forwarded client and scheme.

Runs the ```nginx block of README.md as written (only its ports, names and certificate paths
replaced) with a throwaway certificate, in front of the shop under gunicorn. Skipped when
nginx is not installed.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import trustme

from tests.support.database import fresh_database
from tests.support.forms import csrf_token
from tests.support.live import free_port, gunicorn

README = Path(__file__).resolve().parents[1] / "README.md"
NGINX = shutil.which("nginx") or next(
    (path for path in ("/usr/sbin/nginx",) if Path(path).exists()), None
)

pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


def readme_site() -> str:
    return re.search(r"```nginx\n(.*?)```", README.read_text(), re.S)[1]


@pytest.fixture
def proxied(tmp_path):
    """(https port, http port, CA) of nginx in front of a shop with SHOP_HTTPS and one
    trusted proxy."""
    ca = trustme.CA()
    cert = ca.issue_cert("shop.example", "127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(tmp_path / "cert.pem")
    https_port, http_port = free_port(), free_port()
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        'HTTPS = True\nTRUSTED_PROXIES = 1\nPUBLIC_URL = "https://shop.example"\n'
        'RATELIMIT_SIGN_IN = "2 per minute"\n'
    )
    # One worker: memory:// rate limits count per process.
    with fresh_database(instance, "_proxy") as url, gunicorn(url, instance, workers=1) as base:
        shop_port = base.rsplit(":", 1)[1]
        site = (
            readme_site()
            .replace("listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl")
            .replace("listen 80", f"listen 127.0.0.1:{http_port}")
            .replace("/etc/letsencrypt/live/shop.example/fullchain.pem", str(tmp_path / "cert.pem"))
            .replace("/etc/letsencrypt/live/shop.example/privkey.pem", str(tmp_path / "cert.pem"))
            .replace("127.0.0.1:8000", f"127.0.0.1:{shop_port}")
        )
        for folder in ("logs", "tmp"):
            (tmp_path / folder).mkdir()
        conf = tmp_path / "nginx.conf"
        conf.write_text(
            f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/logs/error.log;\n"
            "events {}\n"
            f"http {{\nlog_format ids '$request_id';\n"
            f"access_log {tmp_path}/logs/access.log ids;\nclient_body_temp_path {tmp_path}/tmp;\n"
            f"proxy_temp_path {tmp_path}/tmp;\n{site}\n}}\n"
        )
        process = subprocess.Popen(
            [NGINX, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while not _listening(https_port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start: " + process.stderr.read().decode())
                time.sleep(0.05)
            yield https_port, http_port, ca, tmp_path / "logs" / "access.log"
        finally:
            process.terminate()
            process.wait(10)


def _listening(port: int) -> bool:
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
    except OSError:
        return False
    return True


class _Connection(http.client.HTTPSConnection):
    """HTTPS to nginx on 127.0.0.1, naming a host in TLS (SNI) as a browser would."""

    def __init__(self, port: int, sni: str, **options):
        super().__init__("127.0.0.1", port, **options)
        self.sni = sni

    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), self.timeout, self.source_address)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.sni)


def _https(
    port: int,
    ca: trustme.CA,
    method: str,
    path: str,
    headers=None,
    body=None,
    source="127.0.0.1",
    sni="shop.example",
):
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.check_hostname = False  # SNI may name another host than the certificate's
    connection = _Connection(port, sni, context=context, timeout=10, source_address=(source, 0))
    connection.request(method, path, body=body, headers={"Host": "shop.example", **(headers or {})})
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_http_redirects_to_https(proxied):
    _, http_port, _, _ = proxied
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    connection.request("GET", "/offers", headers={"Host": "shop.example"})
    response = connection.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == "https://shop.example/offers"


def test_the_shop_sees_https_and_the_real_host(proxied):
    https_port, _, ca, access_log = proxied
    response = _https(https_port, ca, "GET", "/")
    assert response.status == 200
    assert "max-age=63072000" in response.getheader("Strict-Transport-Security")
    cookie = response.getheader("Set-Cookie")
    assert "Secure" in cookie and "HttpOnly" in cookie
    # Links are absolute https links to the public host.
    assert 'href="https://shop.example/"' in response.body.decode()
    # nginx's request id is the shop's: the one nginx logged for this request.
    # (nginx writes its log line after the answer: under load it may come a moment later.)
    shop_id = response.getheader("X-Request-ID")
    deadline = time.monotonic() + 5
    while shop_id not in access_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line.split() for line in access_log.read_text().splitlines() if line.strip()]
    assert [shop_id] == [words[-1] for words in lines if words[-1] == shop_id]


def test_rate_limits_count_the_forwarded_client(proxied):
    """Two clients behind the proxy: one spends its sign-in attempts, the other still may."""
    https_port, _, ca, _ = proxied
    page = _https(https_port, ca, "GET", "/account/sign-in")
    cookie = page.getheader("Set-Cookie").split(";", 1)[0]
    token = csrf_token(page.body.decode())

    def attempt(client_address: str, source: str = "127.0.0.1") -> int:
        body = f"email=a%40example.com&password=wrong+password+long&csrf_token={token}"
        headers = {
            "Cookie": cookie,
            "Content-Type": "application/x-www-form-urlencoded",
            # What a first proxy in front of nginx would have said; nginx adds its peer.
            "X-Forwarded-For": client_address,
            # Over HTTPS, Flask-WTF also wants a same-origin Referer (browsers send one).
            "Referer": "https://shop.example/account/sign-in",
        }
        return _https(https_port, ca, "POST", "/account/sign-in", headers, body, source).status

    # nginx appends the address it sees (127.0.0.1); with one trusted proxy the shop takes
    # that last address, so a client cannot pick its own identity by sending the header.
    statuses = [attempt(f"203.0.113.{n}") for n in range(3)]
    assert statuses == [400, 400, 429]
    # Another client (another address as nginx sees it) is still welcome: the shop counts
    # the forwarded client, not its connection from nginx (always 127.0.0.1).
    assert attempt("203.0.113.9", source="127.0.0.2") == 400


def test_other_hosts_get_no_answer_from_nginx(proxied):
    """The README's catch-all site: a forged Host or a bare address never reaches the shop,
    and TLS for a name the certificate is not for is refused at the handshake."""
    https_port, http_port, ca, access_log = proxied
    with pytest.raises(http.client.RemoteDisconnected):
        _https(https_port, ca, "GET", "/", headers={"Host": "evil.example"})
    with pytest.raises(ssl.SSLError):
        _https(https_port, ca, "GET", "/", sni="evil.example")
    connection = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    connection.request("GET", "/", headers={"Host": "evil.example"})
    with pytest.raises(http.client.RemoteDisconnected):
        connection.getresponse()
    # A client's own X-Forwarded-Host is replaced by nginx's ($host): links stay the shop's.
    response = _https(https_port, ca, "GET", "/", headers={"X-Forwarded-Host": "evil.example"})
    assert response.status == 200 and "evil.example" not in response.body.decode()
