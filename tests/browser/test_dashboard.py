"""The owner's dashboard in Chromium: opened from the admin index, with and without
JavaScript, at desktop and phone widths (375 and 320 px), axe clean, nothing wider than the
screen (tables opened too), no console errors; the period changes in place with htmx (the
address and the status line follow) and through the button without JavaScript."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from shop import create_app
from shop.clock import now
from shop.extensions import db
from tests.support.browser import (
    DESKTOP,
    MOBILE,
    assert_no_axe_violations,
    assert_no_axe_violations_without_javascript,
    assert_no_overflow,
    console_errors,
    page_factory,
    serve_shop,
)
from tests.support.browser_accounts import ADMIN_EMAIL, GENEROUS_LIMITS, create_admin, sign_in
from tests.support.database import TEST_SECRET
from tests.support.orders import add_order

pytestmark = pytest.mark.browser

PHONE = {"width": 320, "height": 700}
SHOP: dict[str, Path | str] = {}


@pytest.fixture(scope="module")
def dashboard_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop under gunicorn on a database of its own, with an administrator (and sign-in
    limits generous enough for a sign-in per test)."""

    def remember(instance: Path, url: str) -> None:
        SHOP.update(instance=instance, url=url)
        create_admin(instance, url)

    instance = tmp_path_factory.mktemp("dashboard-instance")
    (instance / "config.py").write_text(GENEROUS_LIMITS)
    yield from serve_shop(instance, "_dashboard", prepare=remember)


@pytest.fixture(scope="module")
def shop_app(dashboard_server: str) -> Iterator[Flask]:
    """The same shop in this process (same database, same secret), holding a few orders of
    the last weeks and of the year before."""
    app = create_app(
        {"INSTANCE_PATH": SHOP["instance"], "DATABASE_URL": SHOP["url"], "SECRET_KEY": TEST_SECRET}
    )
    moment = now()
    for days, status in ((1, "paid"), (9, "submitted"), (30, "invoiced"), (200, "completed")):
        placed = moment - timedelta(days=days)
        paid = placed if status in ("paid", "completed") else None
        add_order(app, status=status, created_at=placed, paid_at=paid)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[..., Page]]:
    with page_factory(browser) as make:
        yield make


def check(page: Page, javascript: bool, status: int | None = None) -> None:
    """No overflow (also with every table opened), no axe violations, no console errors
    (but Chromium's line noting the page's own 4xx ``status``)."""
    assert_no_overflow(page)
    if javascript:
        assert_no_axe_violations(page)
        noted = f"status of {status}"
        assert [line for line in console_errors(page) if not (status and noted in line)] == []
    else:
        assert_no_axe_violations_without_javascript(page)
    summaries = page.locator(".chart-table summary")
    for index in range(summaries.count()):
        summaries.nth(index).click()
    assert_no_overflow(page)


def open_dashboard(page: Page) -> None:
    sign_in(page, ADMIN_EMAIL)
    page.goto("/admin")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("heading", name="Dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("radio", name="12 weeks")).to_be_checked()
    expect(page.get_by_role("img", name="Orders per week, the last 12 weeks")).to_be_visible()
    expect(page.get_by_role("link", name="1 order to invoice")).to_be_visible()


def week_rows(page: Page) -> int:
    """The rows of the orders' table (its weeks, without the head and the total)."""
    return page.locator(
        "table:has(caption:text-is('Orders per week, placed and paid')) tbody tr"
    ).count()


@pytest.mark.parametrize(
    "viewport", [DESKTOP, MOBILE, PHONE], ids=["desktop", "phone-375", "phone-320"]
)
def test_the_dashboard_with_javascript(pages, dashboard_server, shop_app, viewport):
    page = pages(dashboard_server, viewport)
    open_dashboard(page)
    assert week_rows(page) == 12
    check(page, True)

    # The period changes in place: the page stays (a mark set on it survives), the address
    # and the status line follow.
    page.evaluate("window.__stayed = true")
    page.get_by_role("radio", name="52 weeks").check()
    expect(page.locator("#dashboard-status")).to_have_text("Showing the last 52 weeks")
    expect(page).to_have_url(f"{dashboard_server}/admin/dashboard?weeks=52")
    expect(page.get_by_role("img", name="Orders per week, the last 52 weeks")).to_be_visible()
    assert page.evaluate("window.__stayed === true")
    assert week_rows(page) == 52
    check(page, True)

    page.get_by_role("radio", name="4 weeks").check()
    expect(page.locator("#dashboard-status")).to_have_text("Showing the last 4 weeks")
    expect(page).to_have_url(f"{dashboard_server}/admin/dashboard?weeks=4")
    assert week_rows(page) == 4


@pytest.mark.parametrize(
    "viewport",
    [DESKTOP, MOBILE, PHONE],
    ids=["desktop-no-js", "phone-375-no-js", "phone-320-no-js"],
)
def test_the_dashboard_without_javascript(pages, dashboard_server, shop_app, viewport):
    page = pages(dashboard_server, viewport, javascript=False)
    open_dashboard(page)
    check(page, False)

    page.get_by_role("radio", name="52 weeks").check()
    page.get_by_role("button", name="Show this period").click()
    expect(page).to_have_url(f"{dashboard_server}/admin/dashboard?weeks=52")
    expect(page.get_by_role("radio", name="52 weeks")).to_be_checked()
    assert week_rows(page) == 52
    check(page, False)

    # A period that is not offered: the message in place, the picker to choose again.
    page.goto("/admin/dashboard?weeks=7")
    expect(page.get_by_role("alert")).to_contain_text("Choose a period of 4, 12 or 52 weeks.")
    check(page, False)
    page.get_by_role("button", name="Show this period").click()
    expect(page).to_have_url(f"{dashboard_server}/admin/dashboard?weeks=12")
    assert week_rows(page) == 12
