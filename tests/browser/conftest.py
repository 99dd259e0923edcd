"""Browser fixtures: the real app under gunicorn on a fresh database, driven by Chromium.

Each pytest-xdist worker starts its own server (on its own free port, with its own SQLite
file or PostgreSQL schema) and its own browser, because session-scoped fixtures live in
each worker process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    MOBILE,
    page_factory,
    serve_shop,
)
from tests.support.browser_accounts import GENEROUS_LIMITS, create_admin


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the shop that ``page`` and ``new_page`` open: the shop under gunicorn
    (two workers) on a freshly migrated database. A module whose pages need a shop set up
    otherwise (such as ``accounts_server``) overrides it with that shop's URL."""
    yield from serve_shop(tmp_path_factory.mktemp("browser-instance"), "_browser")


@pytest.fixture(scope="module")
def accounts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A shop of the module's own under gunicorn, on a fresh database, with an administrator
    (ADMIN_EMAIL) and generous sign-in limits (in its instance/config.py); its base URL."""
    instance = tmp_path_factory.mktemp("accounts-instance")
    (instance / "config.py").write_text(GENEROUS_LIMITS)
    yield from serve_shop(instance, "_accounts", prepare=create_admin)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium, one per test worker."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """A factory of pages, each in a fresh context (no shared cookies), closed after the test."""
    with page_factory(browser) as make:
        yield lambda viewport=DESKTOP: make(live_server, viewport)


@pytest.fixture
def page(new_page: Callable[..., Page]) -> Page:
    """A desktop-sized page (1280x800)."""
    return new_page(DESKTOP)


@pytest.fixture
def mobile_page(new_page: Callable[..., Page]) -> Page:
    """A phone-sized page (375x812)."""
    return new_page(MOBILE)
