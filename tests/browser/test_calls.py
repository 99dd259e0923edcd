"""The scoping call in Chromium: a buyer books, moves and cancels it with JavaScript (the
browser's own zone picked for them) and without (the zone chosen from the list), at desktop
and phone widths, axe clean in every state; a time taken in another tab meanwhile."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from shop import create_app
from shop.extensions import db
from shop.orders.services import access_key
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
from tests.support.browser_accounts import ADMIN_EMAIL, create_admin, sign_in
from tests.support.database import TEST_SECRET
from tests.support.orders import add_order

pytestmark = pytest.mark.browser

PHONE = {"width": 320, "height": 700}
SHOP: dict[str, Path | str] = {}


@pytest.fixture(scope="module")
def calls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shop under gunicorn on a database of its own (with an administrator), which the
    tests fill with orders."""

    def remember(instance: Path, url: str) -> None:
        SHOP.update(instance=instance, url=url)
        create_admin(instance, url)

    yield from serve_shop(tmp_path_factory.mktemp("calls-instance"), "_calls", prepare=remember)


@pytest.fixture(scope="module")
def shop_app(calls_server: str) -> Iterator[Flask]:
    """The same shop in this process (same database, same secret): to place orders."""
    app = create_app(
        {"INSTANCE_PATH": SHOP["instance"], "DATABASE_URL": SHOP["url"], "SECRET_KEY": TEST_SECRET}
    )
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pages(browser: Browser) -> Iterator[Callable[..., Page]]:
    with page_factory(browser) as make:
        yield make


def order_link(app: Flask, status: str = "paid") -> str:
    """The call page's address of a new order, as its mail gives it."""
    reference = add_order(app, status=status)
    with app.app_context():
        return f"/orders/{reference}/call?key={access_key(reference)}"


def open_picker(page: Page, link: str) -> None:
    """Open the call's page with JavaScript and, when the browser's zone is not the studio's,
    wait until the times are redrawn for it (a click before that would be on the old list)."""
    page.goto(link)
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    if zone != "Europe/Berlin":
        expect(page.locator("#call-times-status")).to_have_text(
            f"Times shown in {zone.replace('_', ' ')}."
        )


def check(page: Page, javascript: bool, status: int | None = None) -> None:
    """No overflow, no axe violations, no console errors (but Chromium's line noting the
    page's own 4xx ``status``)."""
    assert_no_overflow(page)
    if javascript:
        assert_no_axe_violations(page)
        noted = f"status of {status}"
        assert [line for line in console_errors(page) if not (status and noted in line)] == []
    else:
        assert_no_axe_violations_without_javascript(page)


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "phone"])
def test_book_move_and_cancel_with_javascript(pages, calls_server, shop_app, viewport):
    page = pages(calls_server, viewport, timezone_id="Asia/Kolkata")
    page.goto(order_link(shop_app))
    # The browser's zone is picked and the times redrawn for it, in place (under the name
    # the browser gives it: Chromium still says Asia/Calcutta).
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert zone in ("Asia/Kolkata", "Asia/Calcutta")
    expect(page.locator("#call-zone")).to_have_value(zone)
    expect(page.locator(".call-times-zone")).to_contain_text(f"Times in {zone}")
    expect(page.locator("#call-times-status")).to_have_text(f"Times shown in {zone}.")
    assert "zone=" + zone.replace("/", "%2F") in page.url
    first = page.locator(".call-slot").first
    minutes = re.search(r"\d\d:(\d\d)", first.inner_text())
    assert minutes and minutes[1] in ("00", "30")
    check(page, True)

    # Keyboard: the first time, then the button.
    page.locator('input[name="start"]').first.focus()
    page.keyboard.press("Space")
    page.get_by_role("button", name="Book this time").click()
    expect(page.locator(".flash")).to_contain_text("Your call is booked for")
    expect(page.locator(".call-when")).to_contain_text(zone)
    expect(page.locator(".call-studio-time")).to_contain_text("Europe/Berlin")
    check(page, True)

    page.get_by_role("link", name="Move the call").click()
    expect(page.get_by_role("heading", name="Move your scoping call")).to_be_visible()
    page.locator(".call-slot").nth(1).click()
    page.get_by_role("button", name="Move the call to this time").click()
    expect(page.locator(".flash")).to_contain_text("Your call has moved to")
    check(page, True)

    page.get_by_role("button", name="Cancel the call").click()
    expect(page.locator(".flash")).to_contain_text("Your call is cancelled")
    expect(page.get_by_role("button", name="Book this time")).to_be_visible()
    check(page, True)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone-320"])
def test_book_move_and_cancel_without_javascript(pages, calls_server, shop_app, viewport):
    page = pages(calls_server, viewport, javascript=False, timezone_id="America/New_York")
    page.goto(order_link(shop_app, status="submitted"))
    # No script: the studio's zone until another is chosen from the list.
    expect(page.locator("#call-zone")).to_have_value("Europe/Berlin")
    check(page, False)
    page.locator("#call-zone").select_option("Australia/Lord_Howe")
    page.get_by_role("button", name="Show the times in this zone").click()
    expect(page.locator(".call-times-zone")).to_contain_text("Times in Australia/Lord Howe")
    check(page, False)

    page.locator(".call-slot").first.click()
    page.get_by_role("button", name="Book this time").click()
    expect(page.locator(".flash")).to_contain_text("Your call is booked for")
    expect(page.locator(".call-when")).to_contain_text("Australia/Lord_Howe")
    check(page, False)

    page.get_by_role("link", name="Move the call").click()
    page.locator(".call-slot").nth(2).click()
    page.get_by_role("button", name="Move the call to this time").click()
    expect(page.locator(".flash")).to_contain_text("Your call has moved to")

    page.get_by_role("button", name="Cancel the call").click()
    expect(page.locator(".flash")).to_contain_text("Your call is cancelled")
    check(page, False)


def test_a_time_taken_in_another_tab_says_so_and_offers_the_rest(pages, calls_server, shop_app):
    first, second = pages(calls_server), pages(calls_server)
    open_picker(first, order_link(shop_app))
    open_picker(second, order_link(shop_app))
    for page in (first, second):
        page.locator(".call-slot").first.click()
    first.get_by_role("button", name="Book this time").click()
    expect(first.locator(".flash")).to_contain_text("Your call is booked for")
    taken = second.locator('input[name="start"]').first.get_attribute("value")

    second.get_by_role("button", name="Book this time").click()
    alert = second.get_by_role("alert")
    expect(alert).to_contain_text("That time was just taken by someone else")
    expect(alert).to_be_focused()
    values = second.locator('input[name="start"]').evaluate_all("els => els.map(e => e.value)")
    assert values and taken not in values
    check(second, True, status=409)


# ---------------------------------------------------------------- the studio's side


@pytest.mark.parametrize(
    ("viewport", "javascript"),
    [(DESKTOP, True), (MOBILE, True), (DESKTOP, False), (PHONE, False)],
    ids=["desktop", "phone", "desktop-no-js", "phone-320-no-js"],
)
def test_the_studio_sets_its_hours_sees_the_agenda_and_subscribes(
    pages, calls_server, shop_app, viewport, javascript
):
    # A buyer books first, so the agenda has a call.
    buyer = pages(calls_server)
    open_picker(buyer, order_link(shop_app))
    buyer.locator(".call-slot").first.click()
    buyer.get_by_role("button", name="Book this time").click()
    expect(buyer.locator(".flash")).to_contain_text("Your call is booked for")
    reference = re.search(r"/orders/(EG-[A-Z0-9-]+)/call", buyer.url)[1]

    page = pages(calls_server, viewport, javascript=javascript)
    sign_in(page, ADMIN_EMAIL)
    page.goto("/admin")
    page.get_by_role("link", name="Calls").first.click()
    expect(page.get_by_role("heading", name="Scoping calls", level=1)).to_be_visible()
    call = page.locator(".admin-call").filter(has_text=reference)
    expect(call).to_contain_text("Sessions in Redis")  # the buyer's context
    check(page, javascript)

    # The feed, read as a calendar app reads it.
    feed = page.get_by_label("The feed's address").input_value()
    answer = page.request.get(feed)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/calendar")
    assert reference in answer.text()
    page.get_by_role("button", name="Rotate the feed address").click()
    expect(page.locator(".flash")).to_be_visible()
    assert page.request.get(feed).status == 404
    assert page.get_by_label("The feed's address").input_value() != feed

    # The hours: a mistake is kept and pointed at, then corrected.
    page.get_by_role("link", name="Hours, days off and limits").click()
    monday = page.get_by_label("Monday")
    monday.fill("09:00-12:00, 11:00-17:00")
    page.get_by_role("button", name="Save the weekly hours").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Monday")).to_have_value("09:00-12:00, 11:00-17:00")
    check(page, javascript, status=422)
    page.get_by_label("Monday").fill("09:00-12:00, 14:00-17:00")
    page.get_by_role("button", name="Save the weekly hours").click()
    expect(page.locator(".flash")).to_contain_text("The weekly hours are saved.")
    expect(page.get_by_label("Monday")).to_have_value("09:00-12:00, 14:00-17:00")
    check(page, javascript, status=422)  # the refused form's answer is still in the log
