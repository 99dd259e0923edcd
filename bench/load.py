"""HTTP benchmark: the shop under gunicorn, beside a bare Flask app, loaded with wrk.

Serves a bare Flask app (bench/bare_app.py: one view answering a fixed 2 KB page) and then
the shop, each with the production settings (``gunicorn -c gunicorn.conf.py``, the
configuration's worker count unless ``--workers N``, access log included) on a free local
port, and loads them one after the other in the same run with wrk: 32 connections for 10 s
per scenario after a 2 s warm-up. The shop runs on a scratch SQLite database in a temporary
directory (migrated with ``flask db upgrade``, filled with ``flask catalog load``) and, with
``--pg URL``, again on PostgreSQL in a scratch schema that is dropped afterwards. The bare app
runs just before and just after each backend's scenarios; rates are compared with the mean of
the two. Scenarios:

    home-cookie  GET /                       a visitor's session cookie
    home         GET /                       no cookie (a first visit; answers Set-Cookie)
    offer        GET /offers/r2-bucket-hat   no cookie
    search       GET /search/suggest?q=sync  HX-Request (the header box's suggestions)
    counters     GET /bag/counters           HX-Request and the cookie
    add          POST /bag/add               htmx, the cookie, X-CSRFToken from the page's
                                             hx-headers, a fresh form token per request

Before loading anything it gets a real session (one GET / must answer Set-Cookie
shop_session and carry the CSRF token the cookie belongs to), adds one offer to the bag with
it (so the session is stored and the bag is not empty, like a returning visitor's), and checks
that each scenario answers 2xx once, so the numbers are never those of error pages. The bag
line stops at 10 (the shop's maximum), so repeated adds keep answering 200. The form token of
each add is generated in wrk's Lua (the shop answers 409 to a token used before).

It prints, per scenario, requests per second, the ratio to the bare app's rate, the p50 and
p99 latency seen by wrk, the server's own p50 (gunicorn's access log), and the errors:
answers other than 2xx/3xx plus socket errors (by status code, from the access log, when
there are any). Then a markdown table and whether each goal is met: home, offer and search
serve at least half the bare app's rate, add at least a third; p99 under 30 ms everywhere;
no errors.

    apt-get install wrk                          # once (Debian, Ubuntu); macOS: brew install wrk
    .venv/bin/python bench/load.py               # SQLite, 10 s per scenario
    .venv/bin/python bench/load.py --duration 5 --scenarios home,add --workers 3
    .venv/bin/python bench/load.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/load.py --profile /tmp/shop-profiles

``--profile DIR`` then loads each scenario that missed a goal once more with py-spy recording
every worker (``.venv/bin/pip install py-spy``; needs ptrace, e.g. root), keeps the collapsed
stacks in DIR and prints where the workers spend their time (share of the samples taken
while a worker handles a request). For a flame graph of one worker under load:
``py-spy record -o profile.svg --pid <worker pid>``.

wrk and the servers share the machine: run it when nothing else is busy (it prints the load
average before and after) and compare the ratios of one run, not numbers across runs.
``--gzip`` sends ``Accept-Encoding: gzip`` as browsers do (the shop then compresses pages).
Not collected by pytest (its test paths are tests/), not run by CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py: run as a script, its folder comes first on sys.path and would
# hide the standard library's ``http`` package, which urllib imports. Drop that entry.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]

import argparse  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import sqlite3  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.parse  # noqa: E402
import urllib.request  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from importlib import metadata  # noqa: E402

ROOT = HERE.parent
OFFER = "r2-bucket-hat"
P99_GOAL_MS = 30.0
STARTUP_TIMEOUT = 30.0
COOKIE = "shop_session"


@dataclass(frozen=True)
class Scenario:
    """One kind of request to load the shop with."""

    name: str
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    cookie: bool = False  # send the visitor's session cookie
    csrf: bool = False  # send X-CSRFToken (the page's hx-headers)
    form: str | None = None  # urlencoded body; a fresh ``token`` is appended per request
    rate_goal: float | None = None  # least share of the bare app's requests per second


HX = {"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1/"}
ADD_FORM = urllib.parse.urlencode({"offer": OFFER, "quantity": "1", "next": "/", "variant": "card"})
SCENARIOS = [
    Scenario("home-cookie", "GET", "/", cookie=True, rate_goal=1 / 2),
    Scenario("home", "GET", "/", rate_goal=1 / 2),
    Scenario("offer", "GET", f"/offers/{OFFER}", rate_goal=1 / 2),
    Scenario("search", "GET", "/search/suggest?q=sync", headers=HX, rate_goal=1 / 2),
    Scenario("counters", "GET", "/bag/counters", headers=HX, cookie=True),
    Scenario(
        "add", "POST", "/bag/add", headers=HX, cookie=True, csrf=True, form=ADD_FORM,
        rate_goal=1 / 3,
    ),
]  # fmt: skip
COUNTERS, ADD = SCENARIOS[-2:]
BARE = Scenario("bare", "GET", "/")


# ---------------------------------------------------------------- wrk and its Lua script

# wrk calls done() once at the end; it prints the numbers as one line of JSON. Latencies are
# in microseconds. errors.status counts answers with a status of 400 or more.
LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %.0f, "duration_us": %.0f, "bytes": %.0f, "connect": %.0f, ' ..
    '"read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f, "p50_us": %.0f, ' ..
    '"p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f, "mean_us": %.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean))
end
"""

# A POST whose body ends with a form token never sent before: the run's start time, the
# thread, a counter and random letters. setup() numbers the threads (thread:set makes
# ``thread_id`` a global of that thread's Lua state).
LUA_FORM = r"""
local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local threads = 0
local counter = 0
local started = os.time()
local body = "%(form)s&token="

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  counter = counter + 1
  local letters = {}
  for i = 1, 10 do
    local n = math.random(1, #chars)
    letters[i] = chars:sub(n, n)
  end
  local token = string.format("b%%x-%%d-%%x-%%s", started, thread_id or 0, counter,
    table.concat(letters))
  return wrk.format(nil, nil, nil, body .. token)
end
"""


def lua_script(scenario: Scenario) -> str:
    form = LUA_FORM % {"form": scenario.form} if scenario.form else ""
    return f"-- written by bench/load.py for {scenario.name}\n{form}{LUA_DONE}"


def wrk_command(
    url: str, script: Path, headers: dict[str, str], seconds: float, args: argparse.Namespace
) -> list[str]:
    command = ["wrk", "-t", str(args.threads), "-c", str(args.connections)]
    command += ["-d", f"{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(script)]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return [*command, url]


def run_wrk(command: list[str]) -> dict[str, float]:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("WRK_RESULT "):
            return json.loads(line.removeprefix("WRK_RESULT "))
    raise RuntimeError(f"wrk gave no result ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Report a redirect as what it is instead of following it."""

    def redirect_request(self, *args, **kwargs):
        return None


OPENER = urllib.request.build_opener(NoRedirect)


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: str


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, body: str | None = None
) -> Answer:
    data = body.encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with OPENER.open(request, timeout=10) as response:
            raw = response.read()
            return Answer(response.status, response.getheaders(), raw.decode(errors="replace"))
    except urllib.error.HTTPError as error:
        raw = error.read()
        return Answer(error.code, list(error.headers.items()), raw.decode(errors="replace"))


@dataclass
class Server:
    """A gunicorn master on a local port and its log."""

    name: str
    base_url: str
    process: subprocess.Popen
    log: Path

    def workers(self) -> list[int]:
        """Pids of the master's children (its workers) right now."""
        return sorted(pid for pid, fields in _processes() if int(fields[1]) == self.process.pid)

    def cpu_seconds(self) -> float:
        """CPU time the workers used so far: the live ones' own, and the master's count of
        its children that already exited (gunicorn recycles workers: max_requests)."""
        ticks = 0
        for pid, fields in _processes():
            if pid == self.process.pid:
                ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
            elif int(fields[1]) == self.process.pid:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_size(self) -> int:
        return self.log.stat().st_size

    def access_log(self, start: int) -> tuple[Counter[int], list[int]]:
        """Status codes and server times (ms) of the access-log lines written since ``start``."""
        statuses: Counter[int] = Counter()
        times: list[int] = []
        with open(self.log, "rb") as handle:
            handle.seek(start)
            for line in handle.read().decode(errors="replace").splitlines():
                found = ACCESS_LINE.search(line)
                if found:
                    statuses[int(found[1])] += 1
                    times.append(int(found[2]))
        return statuses, times


def _processes() -> Iterator[tuple[int, list[str]]]:
    """(pid, the fields of /proc/PID/stat after the command name) of every process."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            yield int(stat.parent.name), stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue


def machine_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the machine so far, from /proc/stat."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


# gunicorn.conf.py's access_log_format: ... "%(r)s" %(s)s %(B)s %(M)sms
ACCESS_LINE = re.compile(r'"[A-Z]+ [^"]*" (\d{3}) \S+ (\d+)ms\s*$')


@contextmanager
def gunicorn(
    name: str, app: str, env: dict[str, str], folder: Path, health: str, workers: int | None
) -> Iterator[Server]:
    """Serve ``app`` with ``gunicorn -c gunicorn.conf.py`` on a free port until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"]
    if workers:
        command += ["--workers", str(workers)]
    command.append(app)
    full_env = {**os.environ, **env, "SHOP_BIND": f"127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
    log = folder / f"gunicorn-{name}-{port}.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=handle,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            try:
                if fetch(server.base_url + health).status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"gunicorn ({name}) did not start:\n{tail}")
            time.sleep(0.1)
        # The first worker answers while the master still forks the others: wait until
        # their number holds still for half a second.
        seen, steady_since = server.workers(), time.monotonic()
        while time.monotonic() - steady_since < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
            now = server.workers()
            if len(now) != len(seen):
                seen, steady_since = now, time.monotonic()
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def flask_command(env: dict[str, str], *arguments: str) -> None:
    command = [sys.executable, "-m", "flask", "--app", "app", *arguments]
    done = subprocess.run(
        command, cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def scratch_database(backend: str, folder: Path, pg_url: str | None) -> Iterator[dict[str, str]]:
    """The shop's SHOP_* variables for a migrated, filled scratch database."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{folder}/shop.sqlite3"
    else:
        from sqlalchemy import create_engine, text

        assert pg_url
        schema = f"bench_http_{uuid.uuid4().hex[:8]}"
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            print(f"PostgreSQL {conn.execute(text('SHOW server_version')).scalar()}", flush=True)
        engine.dispose()
        separator = "&" if "?" in pg_url else "?"
        url = f"{pg_url}{separator}options=-csearch_path%3D{schema}"
    env = {
        "SHOP_DATABASE_URL": url,
        "SHOP_INSTANCE_PATH": str(folder),
        "SHOP_SECRET_KEY": secrets.token_urlsafe(32),
    }
    try:
        flask_command(env, "db", "upgrade")
        flask_command(env, "catalog", "load")
        yield env
    finally:
        if schema:
            engine = create_engine(pg_url)
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()


# ---------------------------------------------------------------- the visitor


@dataclass
class Visitor:
    """A real session: its cookie and the CSRF token its pages carry."""

    cookie: str
    csrf: str


HX_HEADERS = re.compile(r"""hx-headers='([^']*)'""")


def new_visitor(base_url: str) -> Visitor:
    """GET / once: it must set the session cookie and carry the token that belongs to it."""
    answer = fetch(base_url + "/")
    if answer.status != 200:
        raise RuntimeError(f"GET / answered {answer.status}")
    cookies = [
        v for k, v in answer.headers if k.lower() == "set-cookie" and v.startswith(COOKIE + "=")
    ]
    if not cookies:
        raise RuntimeError("GET / set no shop_session cookie although the page has a CSRF token")
    cookie = cookies[0].split(";", 1)[0]
    found = HX_HEADERS.search(answer.body)
    if not found:
        raise RuntimeError("GET / has no hx-headers attribute with the CSRF token")
    csrf = json.loads(html.unescape(found[1]))["X-CSRFToken"]
    if f'name="csrf_token" value="{csrf}"' not in answer.body:
        raise RuntimeError("the page's forms carry another CSRF token than its hx-headers")
    return Visitor(cookie, csrf)


def stored_visitor(base_url: str, visitor: Visitor) -> Visitor:
    """Add an offer once: the session is stored, under the id its answer sets (the shop never
    stores a session under an id it did not issue), and the bag holds a line."""
    headers = request_headers(ADD, visitor, gzip=False)
    answer = fetch(
        base_url + ADD.path, ADD.method, headers, f"{ADD.form}&token={secrets.token_urlsafe(16)}"
    )
    if not 200 <= answer.status < 300:
        raise RuntimeError(f"the first add answered {answer.status}: {answer.body[:600]}")
    cookies = [
        v for k, v in answer.headers if k.lower() == "set-cookie" and v.startswith(COOKIE + "=")
    ]
    if cookies:
        visitor = Visitor(cookies[0].split(";", 1)[0], visitor.csrf)
    counters = fetch(
        base_url + "/bag/counters", headers=request_headers(COUNTERS, visitor, gzip=False)
    ).body
    if not re.search(r'Bag <span class="count">[1-9]', counters):
        raise RuntimeError(f"the bag counter does not show the added offer: {counters!r}")
    return visitor


def request_headers(scenario: Scenario, visitor: Visitor | None, gzip: bool) -> dict[str, str]:
    headers = dict(scenario.headers)
    if scenario.cookie and visitor:
        headers["Cookie"] = visitor.cookie
    if scenario.csrf and visitor:
        headers["X-CSRFToken"] = visitor.csrf
    if gzip:
        headers["Accept-Encoding"] = "gzip"
    return headers


def check(base_url: str, scenario: Scenario, visitor: Visitor | None) -> int:
    """Send the scenario's request once; it must answer 2xx. Returns the body's size."""
    headers = request_headers(scenario, visitor, gzip=False)
    body = None
    if scenario.form is not None:
        body = f"{scenario.form}&token={secrets.token_urlsafe(16)}"
    answer = fetch(base_url + scenario.path, scenario.method, headers, body)
    if not 200 <= answer.status < 300:
        raise RuntimeError(
            f"{scenario.name}: {scenario.method} {scenario.path} answered {answer.status}, "
            f"not 2xx:\n{answer.body[:600]}"
        )
    return len(answer.body.encode())


# ---------------------------------------------------------------- loading


@dataclass
class Result:
    backend: str
    scenario: Scenario
    rate: float
    p50_ms: float
    p99_ms: float
    bad_status: int  # answers other than 2xx/3xx
    socket_errors: int
    statuses: Counter[int]
    server_p50_ms: float | None
    server_p99_ms: float | None
    body_bytes: int
    cpu_ms: float  # the workers' CPU time per request
    machine_busy: float  # share of the machine's CPU time in use (every process)
    workers_share: float  # share of the machine's CPU time the workers used
    ratio: float | None = None

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors

    def misses(self) -> list[str]:
        """The goals this result misses, in words."""
        missed = []
        goal = self.scenario.rate_goal
        if goal is not None and self.ratio is not None and self.ratio < goal:
            missed.append(f"rate {self.ratio:.2f}x < {goal:.2f}x bare")
        if self.p99_ms >= P99_GOAL_MS:
            missed.append(f"p99 {self.p99_ms:.1f} >= {P99_GOAL_MS:.0f} ms")
        if self.errors:
            missed.append(f"{self.errors} errors")
        return missed


def percentile(values: list[int], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))])


def load(
    server: Server,
    backend: str,
    scenario: Scenario,
    visitor: Visitor | None,
    args: argparse.Namespace,
    folder: Path,
) -> Result:
    """Check the scenario, warm it up, then load it for ``--duration`` seconds."""
    body_bytes = check(server.base_url, scenario, visitor)
    script = folder / f"{backend}-{scenario.name}.lua"
    script.write_text(lua_script(scenario))
    headers = request_headers(scenario, visitor, args.gzip)
    url = server.base_url + scenario.path
    if args.warmup > 0:
        run_wrk(wrk_command(url, script, headers, args.warmup, args))
    start = server.log_size()
    cpu_before, (busy_before, all_before) = server.cpu_seconds(), machine_ticks()
    numbers = run_wrk(wrk_command(url, script, headers, args.duration, args))
    cpu_after, (busy_after, all_after) = server.cpu_seconds(), machine_ticks()
    time.sleep(0.2)  # let the last access-log lines land
    statuses, times = server.access_log(start)
    socket_errors = int(
        numbers["connect"] + numbers["read"] + numbers["write"] + numbers["timeout"]
    )
    bad = max(
        int(numbers["status"]), sum(n for code, n in statuses.items() if not 200 <= code < 400)
    )
    return Result(
        backend=backend,
        scenario=scenario,
        rate=numbers["requests"] / (numbers["duration_us"] / 1e6),
        p50_ms=numbers["p50_us"] / 1000,
        p99_ms=numbers["p99_us"] / 1000,
        bad_status=bad,
        socket_errors=socket_errors,
        statuses=statuses,
        server_p50_ms=percentile(times, 0.5),
        server_p99_ms=percentile(times, 0.99),
        body_bytes=body_bytes,
        cpu_ms=1000 * (cpu_after - cpu_before) / max(1, numbers["requests"]),
        machine_busy=(busy_after - busy_before) / max(1, all_after - all_before),
        workers_share=(cpu_after - cpu_before)
        / max(1e-9, (all_after - all_before) / os.sysconf("SC_CLK_TCK")),
    )


def describe(result: Result) -> str:
    ratio = f"{result.ratio:5.2f}x bare" if result.ratio is not None else " " * 10
    server = (
        f"server p50 {result.server_p50_ms:.0f} p99 {result.server_p99_ms:.0f} ms"
        if result.server_p50_ms is not None
        else "server –"
    )
    line = (
        f"  {result.backend:<10} {result.scenario.name:<12} {result.rate:7.0f} req/s {ratio}"
        f"  p50 {result.p50_ms:6.1f}  p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
        f"\n{'':25}workers' CPU {result.cpu_ms:.2f} ms/request; of the machine's CPU the "
        f"workers used {100 * result.workers_share:.0f}%, all processes "
        f"{100 * result.machine_busy:.0f}%\n{'':25}{server}; body {result.body_bytes:,} B"
    )
    if result.errors:
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(result.statuses.items()))
        line += f"\n{'':25}statuses {codes}; socket errors {result.socket_errors}"
    return line


# ---------------------------------------------------------------- profiling


def profile(
    server: Server,
    backend: str,
    scenario: Scenario,
    visitor: Visitor | None,
    args: argparse.Namespace,
    folder: Path,
) -> None:
    """Load the scenario again with py-spy sampling every worker; print where time goes."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("  (py-spy is missing: .venv/bin/pip install py-spy)")
        return
    out_dir = Path(args.profile)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{backend}-{scenario.name}.txt"
    script = folder / f"{backend}-{scenario.name}.lua"
    headers = request_headers(scenario, visitor, args.gzip)
    seconds = max(3, round(args.duration))
    spy_command = [
        spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--rate", "200",
        "--duration", str(seconds), "--format", "raw", "--output", str(output),
    ]  # fmt: skip
    recorder = subprocess.Popen(spy_command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(1.0)  # py-spy attaches
    run_wrk(wrk_command(server.base_url + scenario.path, script, headers, seconds, args))
    spy_log = recorder.communicate(timeout=120)[0].decode(errors="replace")
    if not output.exists() or not output.stat().st_size:
        print(f"  py-spy recorded nothing:\n{spy_log}")
        return
    print(f"\n  profile of {backend} {scenario.name} ({output}):")
    print(summarize(output))


FRAME_LINE = re.compile(r":\d+\)$")


SHOP_FRAME = re.compile(r"\((shop/|templates/|[^)]*\.html\))")
# Frames around every request (gunicorn, Flask's dispatch) that say nothing by themselves.
FRAMEWORK = re.compile(r"^(SyncWorker|Flask\.(__call__|wsgi_app|full_dispatch|dispatch_request))")


def summarize(path: Path, top: int = 16) -> str:
    """Shares of the samples taken inside request handling: the shop's own functions and
    templates (with what they call), the gunicorn side, and the busiest single frames."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    worker = handling = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        frames = [FRAME_LINE.sub(")", f) for f in stack.split(";") if not f.startswith("process ")]
        samples = int(count)
        if any("SyncWorker.run" in f for f in frames):
            worker += samples
        if not any(f.startswith("SyncWorker.handle ") for f in frames):
            continue
        handling += samples
        for frame in dict.fromkeys(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not handling:
        return "    no samples inside request handling"

    def share(frame: str) -> str:
        return f"{100 * inclusive[frame] / handling:5.1f}%"

    lines = [
        f"    {handling} on-CPU samples inside request handling ({worker} in the workers); "
        "shares of those.",
        f"    {share('Flask.wsgi_app (flask/app.py)')}  in Flask (the rest: gunicorn reading, "
        "writing, closing and logging)",
        "    the shop's functions and templates, with what they call:",
    ]
    mine = [f for f, _ in inclusive.most_common() if SHOP_FRAME.search(f)][:top]
    lines += [f"    {share(frame)}  {frame}" for frame in mine]
    lines.append("    libraries, with what they call:")
    libraries = [
        f
        for f, n in inclusive.most_common()
        if not SHOP_FRAME.search(f) and not FRAMEWORK.match(f) and n / handling < 0.9
    ][:10]
    lines += [f"    {share(frame)}  {frame}" for frame in libraries]
    lines.append("    own time (the frame itself, without what it calls):")
    lines += [f"    {100 * n / handling:5.1f}%  {frame}" for frame, n in own.most_common(8)]
    return "\n".join(lines)


# ---------------------------------------------------------------- the run


def table(results: list[Result]) -> str:
    header = (
        "| backend | scenario | req/s | × bare (goal) | p50 ms | p99 ms | errors | "
        "CPU ms/req | goals |"
    )
    rows = [header, "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "1"
        goal = f" (≥ {r.scenario.rate_goal:.2f})" if r.scenario.rate_goal else ""
        misses = r.misses()
        verdict = "met" if not misses else "missed: " + "; ".join(misses)
        rows.append(
            f"| {r.backend} | {r.scenario.name} | {r.rate:,.0f} | {ratio}{goal} | "
            f"{r.p50_ms:.1f} | {r.p99_ms:.1f} | {r.errors} | {r.cpu_ms:.2f} | {verdict} |"
        )
    return "\n".join(rows)


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def run(args: argparse.Namespace) -> int:
    chosen = [s for s in SCENARIOS if not args.scenarios or s.name in args.scenarios]
    backends = [] if args.no_sqlite else ["sqlite"]
    if args.pg:
        backends.append("postgresql")
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average "
        f"{load_average()}; wrk -t{args.threads} -c{args.connections}, {args.duration:g} s per "
        f"scenario after {args.warmup:g} s of warm-up{', gzip' if args.gzip else ''}; "
        f"Python {sys.version.split()[0]}, gunicorn {metadata.version('gunicorn')}, "
        f"SQLite {sqlite3.sqlite_version}",
        flush=True,
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-http-") as scratch:
        folder = Path(scratch)

        def bare_run(when: str) -> Result:
            with gunicorn("bare", "bench.bare_app:app", {}, folder, "/", args.workers) as srv:
                print(f"bare app ({when}): {len(srv.workers())} gunicorn workers", flush=True)
                bare = load(srv, "bare", BARE, None, args, folder)
            bare.ratio = 1.0
            print(describe(bare), flush=True)
            return bare

        for backend in backends:
            # The bare app runs just before and just after each backend's scenarios, and
            # their rates are compared with its mean: a shared machine's speed drifts over
            # minutes, and a baseline measured long before would carry that drift.
            before = bare_run(f"before {backend}")
            instance = folder / backend
            instance.mkdir()
            with (
                scratch_database(backend, instance, args.pg) as env,
                gunicorn(
                    backend,
                    "app:app",
                    env,
                    instance,
                    "/healthz",
                    args.workers,
                ) as srv,
            ):
                print(f"{backend}: {len(srv.workers())} gunicorn workers", flush=True)
                visitor = stored_visitor(srv.base_url, new_visitor(srv.base_url))
                mine = []
                for scenario in chosen:
                    result = load(srv, backend, scenario, visitor, args, instance)
                    mine.append(result)
                    print(describe(result), flush=True)
                after = bare_run(f"after {backend}")
                baseline = (before.rate + after.rate) / 2
                for result in mine:
                    result.ratio = result.rate / baseline
                bare = Result(**{**vars(before), "rate": baseline})
                bare.backend = f"bare ({backend})"
                results += [bare, *mine]
                if args.profile:
                    for result in mine:
                        if result.misses():
                            profile(srv, backend, result.scenario, visitor, args, instance)
    print(f"\nload average after: {load_average()}\n")
    print(table(results))
    print()
    failed = [r for r in results if r.misses()]
    for r in results:
        print(f"  {r.backend:<10} {r.scenario.name:<12} " + ("; ".join(r.misses()) or "met"))
    print(f"\n{len(results) - len(failed)} of {len(results)} rows meet every goal.")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: the conf's)")
    parser.add_argument("--pg", help="also a PostgreSQL database URL (scratch schema)")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--scenarios",
        type=lambda v: [part.strip() for part in v.split(",") if part.strip()],
        help="comma-separated subset of: " + ", ".join(s.name for s in SCENARIOS),
    )
    parser.add_argument("--gzip", action="store_true", help="send Accept-Encoding: gzip")
    parser.add_argument("--profile", metavar="DIR", help="py-spy what misses a goal, into DIR")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed: apt-get install wrk (Debian, Ubuntu) or brew install wrk",
            file=sys.stderr,
        )
        return 2
    unknown = set(args.scenarios or []) - {s.name for s in SCENARIOS}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.no_sqlite and not args.pg:
        parser.error("nothing to run")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
