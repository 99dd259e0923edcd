"""Chromium for tests: where it is, how it starts, the page sizes, and the checks every
browser test makes (console errors, CSP violations, axe-core)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page

from tests.support.database import fresh_database
from tests.support.live import ServerFailed, gunicorn

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


def watch(page: Page) -> Page:
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


def serve_shop(
    instance: Path,
    suffix: str,
    *,
    workers: int = 2,
    catalog: Path | None = None,
    prepare: Callable[[Path, str], None] | None = None,
) -> Iterator[str]:
    """For a fixture to ``yield from``: the shop under gunicorn on a fresh database of its own
    (``catalog``: its offers; ``prepare(instance, url)`` runs before the start), its base URL.
    A server that does not start fails the test with its log."""
    with fresh_database(instance, suffix, catalog=catalog) as url:
        if prepare is not None:
            prepare(instance, url)
        try:
            with gunicorn(url, instance, workers=workers) as base_url:
                yield base_url
        except ServerFailed as error:
            pytest.fail(str(error), pytrace=False)


@contextmanager
def page_factory(browser: Browser) -> Iterator[Callable[..., Page]]:
    """``make(base_url, viewport, javascript, **options)``: pages each in a fresh context (no
    shared cookies; ``options`` such as ``timezone_id`` go to the context), listening for CSP
    violations and console errors, all closed at the end."""
    contexts: list[BrowserContext] = []

    def make(
        base_url: str,
        viewport: dict[str, int] = DESKTOP,
        javascript: bool = True,
        **options: Any,
    ) -> Page:
        context = browser.new_context(
            viewport=viewport, base_url=base_url, java_script_enabled=javascript, **options
        )
        context.add_init_script(CSP_LISTENER)
        contexts.append(context)
        return watch(context.new_page())

    try:
        yield make
    finally:
        for context in contexts:
            context.close()


# The elements drawn past the right edge of the screen, innermost first.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > width + 0.5))
    .slice(0, 5)
    .map((el) => `${el.tagName.toLowerCase()}.${el.className} ${el.getBoundingClientRect().right}`);
}"""


def assert_no_overflow(page: Page) -> None:
    """Nothing makes the page wider than the screen."""
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], (
        f"{page.url} is {widths[0]}px wide on a {widths[1]}px screen: {page.evaluate(OVERFLOWING)}"
    )


def assert_no_axe_violations_without_javascript(page: Page) -> None:
    """axe-core waits on timers, which never fire where JavaScript is off: it checks a copy of
    the page as served (its HTML, scripts left out) in a tab of the same size with JavaScript,
    on the same origin, under the same CSP and stylesheets."""
    html = re.sub(r"<script\b[^>]*>.*?</script>", "", page.content(), flags=re.S | re.I)
    browser = page.context.browser
    assert browser is not None
    origin = re.match(r"^https?://[^/]+", page.url)
    assert origin is not None
    context = browser.new_context(viewport=page.viewport_size)
    try:
        twin = context.new_page()
        twin.goto(f"{origin[0]}/offers")
        twin.set_content(html)
        assert twin.evaluate("document.documentElement.classList.contains('js')") is False
        assert_no_axe_violations(twin)
    finally:
        context.close()
