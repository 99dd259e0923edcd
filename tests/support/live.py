"""The real app under gunicorn on a local port, for browser and concurrency tests."""

from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.support.database import TEST_SECRET
from tests.support.forms import csrf_token, has_csrf_token

PROJECT_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 20.0


class ServerFailed(RuntimeError):
    """gunicorn exited or did not answer in time; the message holds its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(port: int, workers: int, args: Sequence[str] = ()) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    # Recent gunicorn opens a control socket at one fixed path (~/.gunicorn/gunicorn.ctl),
    # which servers started side by side would fight over.
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        command.append("--no-control-socket")
    return [*command, *args, "app:app"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Server:
    """A running gunicorn: its base URL, its master process and its log."""

    base_url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        """The master's pid."""
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The pids of the master's children (its workers) right now."""
        return sorted(_children(self.process.pid))

    def busy_worker_pids(self) -> list[int]:
        """The workers answering a request right now: those holding an accepted connection
        of this server's port (Linux /proc; empty elsewhere)."""
        sockets: dict[int, set[str]] = {}
        for pid in self.worker_pids():
            try:
                links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
            except OSError:
                continue  # it ended meanwhile
            sockets[pid] = {link[8:-1] for link in links if link.startswith("socket:[")}
        # Read after the workers' sockets, so that a connection seen there is still listed.
        connected = _established_inodes(int(self.base_url.rsplit(":", 1)[1]))
        return sorted(pid for pid, inodes in sockets.items() if inodes & connected)

    def wait_for_workers(self, count: int, timeout: float = STARTUP_TIMEOUT) -> list[int]:
        """The worker pids, once ``count`` workers are up (after a start or a replacement)."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.worker_pids()
            if len(pids) >= count:
                return pids
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise ServerFailed(f"gunicorn has {len(pids)} of {count} workers:\n" + self.log())
            time.sleep(0.05)

    def log(self) -> str:
        """What this server wrote so far."""
        return self.log_path.read_text(errors="replace")


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is ``port``."""
    suffix = f":{port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if fields[1].endswith(suffix) and fields[3] == "01":  # 01: ESTABLISHED
                inodes.add(fields[9])
    return inodes


def _children(pid: int) -> set[int]:
    """The pids of the process's children (Linux /proc; ``pgrep -P`` elsewhere)."""
    found: set[int] = set()
    tasks = Path(f"/proc/{pid}/task")
    if tasks.is_dir():
        for children in tasks.glob("*/children"):
            try:
                found.update(int(child) for child in children.read_text().split())
            except OSError:
                continue  # the thread ended meanwhile
        return found
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return {int(child) for child in result.stdout.split()}


@contextmanager
def serve(
    database_url: str,
    instance: Path,
    workers: int = 2,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[Server]:
    """Serve the shop with gunicorn on a free port; yields the Server, stops it after.

    ``env`` adds or overrides environment variables (SHOP_* configuration), ``args`` adds
    gunicorn command-line arguments."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "SHOP_DATABASE_URL": database_url,
        "SHOP_INSTANCE_PATH": str(instance),
        "SHOP_SECRET_KEY": TEST_SECRET,
        "PYTHONUNBUFFERED": "1",
        # Tests place many orders from one address; the limits have tests of their own.
        "SHOP_RATELIMIT_ORDER": "10000 per hour",
        "SHOP_RATELIMIT_ORDER_EMAIL": "10000 per hour",
        "SHOP_RATELIMIT_OWNER_MAIL": "10000 per hour",
        **(env or {}),
    }
    log_path = instance / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _command(port, workers, args),
            cwd=PROJECT_ROOT,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(f"{base_url}/healthz"):
            if process.poll() is not None:
                raise ServerFailed(
                    f"gunicorn exited with {process.returncode}:\n"
                    + log_path.read_text(errors="replace")
                )
            if time.monotonic() > deadline:
                raise ServerFailed(
                    f"gunicorn did not answer within {STARTUP_TIMEOUT:.0f} s:\n"
                    + log_path.read_text(errors="replace")
                )
            time.sleep(0.1)
        yield Server(base_url, process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn(
    database_url: str,
    instance: Path,
    workers: int = 2,
    *,
    env: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[str]:
    """Serve the shop with gunicorn on a free port; yields the base URL, stops it after.

    See ``serve`` for ``env`` and ``args``, and for the master and worker pids."""
    with serve(database_url, instance, workers, env=env, args=args) as server:
        yield server.base_url


def log_text(instance: Path) -> str:
    """Everything the servers of this instance folder wrote."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(instance.glob("gunicorn-*.log")))


# ---------------------------------------------------------------- a browser over real HTTP


@dataclass
class Answer:
    """One HTTP answer: status, headers, body text, and how long it took."""

    status: int
    headers: dict[str, str]
    text: str
    seconds: float

    def header(self, name: str) -> str | None:
        """A header's value, whatever its case."""
        return self.headers.get(name.lower())

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class Browser:
    """A browser talking HTTP to one or several servers: it keeps the ``shop_session``
    cookie (whichever server set it), reads the CSRF token off the pages it gets, and
    follows no redirects. URLs are absolute, so one browser can visit two servers."""

    COOKIE = "shop_session"

    def __init__(self, cookie: str | None = None, timeout: float = 30):
        self.cookie = cookie
        self.csrf: str | None = None
        self.timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        form: Mapping[str, object] | None = None,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Answer:
        """Send one request; a form is url-encoded (lists give repeated fields)."""
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = f"{self.COOKIE}={self.cookie}"
        if form is not None:
            body = urlencode(form, doseq=True).encode()
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        began = time.monotonic()
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=sent)
            response = conn.getresponse()
            text = response.read().decode(errors="replace")
            answer_headers = {name.lower(): value for name, value in response.getheaders()}
            for name, value in response.getheaders():
                if name.lower() == "set-cookie" and value.startswith(f"{self.COOKIE}="):
                    self.cookie = value.split(";")[0].split("=", 1)[1] or None
        finally:
            conn.close()
        if has_csrf_token(text):
            self.csrf = csrf_token(text)
        return Answer(response.status, answer_headers, text, time.monotonic() - began)

    def get(self, url: str, **options) -> Answer:
        return self.request("GET", url, **options)

    def post(self, url: str, form: Mapping[str, object] | None = None, **options) -> Answer:
        """POST a form with the CSRF token of the last page read."""
        form = dict(form or {})
        if self.csrf and "csrf_token" not in form:
            form["csrf_token"] = self.csrf
        return self.request("POST", url, form, **options)


# ---------------------------------------------------------------- the bag over real HTTP


def add(browser: Browser, base: str, slug: str, quantity: int = 1) -> Answer:
    """Put ``quantity`` of an offer in the bag as the offer's form does without htmx."""
    form = {"offer": slug, "quantity": str(quantity), "token": secrets.token_urlsafe(16)}
    return browser.post(f"{base}/bag/add", {**form, "next": "/bag"})


def counters(browser: Browser, base: str) -> tuple[int, int]:
    """The header's counters: how many items the bag holds, how many the wishlist."""
    text = browser.get(f"{base}/bag/counters").text
    bag = re.search(r'Bag <span class="count">(\d+)', text)[1]
    wish = re.search(r'Wishlist <span class="count">(\d+)', text)[1]
    return int(bag), int(wish)
