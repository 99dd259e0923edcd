"""The real app under gunicorn on a local port, for browser and concurrency tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import TEST_SECRET

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 20.0


class ServerFailed(RuntimeError):
    """gunicorn exited or did not answer in time; the message holds its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "gunicorn", "-w", str(workers), "-b", f"127.0.0.1:{port}"]
    # Recent gunicorn opens a control socket at one fixed path (~/.gunicorn/gunicorn.ctl),
    # which servers started side by side would fight over.
    from gunicorn.config import KNOWN_SETTINGS

    if any(setting.name == "control_socket_disable" for setting in KNOWN_SETTINGS):
        command.append("--no-control-socket")
    return [*command, "app:app"]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def gunicorn(database_url: str, instance: Path, workers: int = 2) -> Iterator[str]:
    """Serve the shop with gunicorn on a free port; yields the base URL, stops it after."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SHOP_DATABASE_URL": database_url,
        "SHOP_INSTANCE_PATH": str(instance),
        "SHOP_SECRET_KEY": TEST_SECRET,
        "PYTHONUNBUFFERED": "1",
    }
    log_path = instance / f"gunicorn-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            _command(port, workers),
            cwd=PROJECT_ROOT,
            env=env,
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
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def log_text(instance: Path) -> str:
    """Everything the servers of this instance folder wrote."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(instance.glob("gunicorn-*.log")))
