"""Browser fixtures: the real app under gunicorn on a fresh database, driven by Chromium.

Each pytest-xdist worker starts its own server (on its own free port, with its own SQLite
file or PostgreSQL schema) and its own browser, because session-scoped fixtures live in
each worker process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from tests.conftest import fresh_database
from tests.live import ServerFailed, gunicorn

CHROMIUM = os.environ.get("SHOP_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 375, "height": 812}
AXE_OPTIONS = {
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"],
    },
    "resultTypes": ["violations"],
}

# Collects what a CSP violation reports; the init script runs outside the page's CSP.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
    `at ${event.sourceFile || document.URL}:${event.lineNumber}`
  );
});
"""

FINISH_ANIMATIONS = """
() => Promise.all(
  document.getAnimations()
    .filter((animation) => animation.effect.getComputedTiming().endTime !== Infinity)
    .map((animation) => animation.finished.catch(() => null))
)
"""


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop under gunicorn (two workers) on a freshly migrated database; its base URL."""
    instance = tmp_path_factory.mktemp("browser-instance")
    with fresh_database(instance, "_browser") as url:
        try:
            with gunicorn(url, instance, workers=2) as base_url:
                yield base_url
        except ServerFailed as error:
            pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per test worker."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _watch(page: Page) -> Page:
    """Record the page's console errors, uncaught exceptions and CSP violations."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            errors.append(f"console: {message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.console_errors = errors  # type: ignore[attr-defined]
    return page


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """A factory of pages, each in a fresh context (no shared cookies), closed after the test."""
    contexts = []

    def make(viewport: dict[str, int] = DESKTOP) -> Page:
        context = browser.new_context(viewport=viewport, base_url=live_server)
        context.add_init_script(CSP_LISTENER)
        contexts.append(context)
        return _watch(context.new_page())

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800)."""
    return new_page(DESKTOP)


@pytest.fixture
def mobile_page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page (375x812)."""
    return new_page(MOBILE)


def console_errors(page: Page) -> list[str]:
    """The console errors, uncaught exceptions and CSP violations the page has seen so far."""
    found = list(page.console_errors)  # type: ignore[attr-defined]
    found += [f"csp: {v}" for v in page.evaluate("window.__cspViolations || []")]
    return found


def assert_no_axe_violations(page: Page) -> None:
    """Run axe-core (WCAG 2.0, 2.1 and 2.2, levels A and AA) and fail listing what it found."""
    # Colours are measured as painted: let fade-ins (the status toast, the notice) finish.
    page.evaluate(FINISH_ANIMATIONS)
    results = Axe().run(page, options=AXE_OPTIONS)
    violations = results.response["violations"]
    if not violations:
        return
    lines = [f"{len(violations)} axe violation(s) on {page.url} ({page.viewport_size}):"]
    for violation in violations:
        lines.append(f"- {violation['id']} [{violation['impact']}]: {violation['help']}")
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = [
                line.strip()
                for line in node.get("failureSummary", "").splitlines()
                if line.strip() and not line.startswith("Fix ")
            ]
            lines.append(f"    {target}: {'; '.join(summary)}")
    pytest.fail("\n".join(lines), pytrace=False)
