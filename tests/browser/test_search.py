"""The header search box in Chromium: type, move with the arrow keys, open with Enter, axe-core
with the list open; a late answer never replaces a newer one; without JavaScript it is a form."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.browser import assert_no_axe_violations, console_errors, serve_shop
from tests.support.catalogue import offer_entry, write_catalogue

pytestmark = pytest.mark.browser


def options(page: Page):
    return page.locator("#site-search-listbox [role='option']")


def test_type_arrow_keys_escape_and_enter(page: Page):
    page.goto("/")
    box = page.locator("#site-search-input")
    box.click()
    box.press_sequentially("sync", delay=40)

    expect(options(page)).to_have_count(2)
    expect(box).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#site-search-popup")).to_be_visible()
    expect(page.locator("#site-search-live")).to_have_text("2 results.")
    expect(options(page).nth(1).locator("mark")).to_have_text("Sync")
    expect(page.locator(".search-popup-all")).to_have_text("See all 2 results")
    assert_no_axe_violations(page)

    first, second = options(page).nth(0), options(page).nth(1)
    box.press("ArrowDown")
    expect(first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id"))
    box.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(first).to_have_attribute("aria-selected", "false")
    box.press("ArrowDown")  # wraps round
    expect(first).to_have_attribute("aria-selected", "true")
    box.press("ArrowUp")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(box).to_be_focused()  # focus never leaves the box

    box.press("Escape")
    expect(page.locator("#site-search-popup")).to_be_hidden()
    expect(box).to_be_focused()
    expect(box).to_have_value("sync")
    expect(box).to_have_attribute("aria-expanded", "false")
    expect(box).not_to_have_attribute("aria-activedescendant", re.compile(".+"))

    box.press("ArrowDown")  # opens the list again on the first result
    expect(page.locator("#site-search-popup")).to_be_visible()
    expect(first).to_have_attribute("aria-selected", "true")
    box.press("Enter")
    page.wait_for_url("**/offers/durable-object-denim")
    expect(page.locator("h1")).to_have_text("Durable Object Denim")
    assert console_errors(page) == []


def test_enter_without_an_active_option_opens_the_results_page(page: Page):
    page.goto("/offers")
    box = page.locator("#site-search-input")
    box.click()
    box.press_sequentially("state", delay=30)
    expect(options(page)).to_have_count(3)
    box.press("Enter")
    page.wait_for_url("**/search?q=state")
    expect(page.locator("h1")).to_have_text("Results for “state”")
    expect(page.locator(".offer-card")).to_have_count(3)
    expect(page.locator(".offer-card mark").first).to_be_visible()
    assert_no_axe_violations(page)
    assert console_errors(page) == []


def test_no_match_is_announced_and_the_list_stays_closed(page: Page):
    page.goto("/")
    box = page.locator("#site-search-input")
    box.click()
    box.press_sequentially("zzz", delay=30)
    expect(page.locator("#site-search-live")).to_have_text("No results.")
    expect(page.locator(".search-popup-empty")).to_have_text("No offers match “zzz”.")
    expect(box).to_have_attribute("aria-expanded", "false")
    box.fill("")
    box.dispatch_event("input")
    expect(page.locator("#site-search-popup")).to_be_hidden()
    assert console_errors(page) == []


def test_a_late_answer_never_replaces_a_newer_one(page: Page):
    held: list[Route] = []

    def hold_the_first(route: Route) -> None:
        if not held and route.request.url.endswith("q=sync"):
            held.append(route)  # answered only after the newer one
        else:
            route.continue_()

    page.route(re.compile(r".*/search/suggest\?.*"), hold_the_first)
    page.goto("/")
    box = page.locator("#site-search-input")
    box.click()
    box.press_sequentially("sync", delay=20)
    page.wait_for_timeout(400)  # the delay has passed: the request for "sync" is out
    assert held
    box.press_sequentially(" kit", delay=20)
    expect(options(page)).to_have_count(1)
    # The old answer arrives late; hx-sync has dropped its request (it may be aborted).
    with contextlib.suppress(Exception):
        held[0].continue_()
    page.wait_for_timeout(300)
    expect(options(page)).to_have_count(1)
    expect(options(page).first).to_contain_text("Realtime WebSocket Sync Kit")


def test_the_list_fits_a_phone_and_passes_axe(mobile_page: Page):
    page = mobile_page
    page.goto("/")
    box = page.locator("#site-search-input")
    box.click()
    box.press_sequentially("web", delay=30)
    expect(options(page)).to_have_count(1)
    popup = page.locator("#site-search-popup").bounding_box()
    assert popup and popup["x"] >= 0 and popup["x"] + popup["width"] <= 375
    assert_no_axe_violations(page)
    assert console_errors(page) == []


def test_without_javascript_the_box_is_a_form(browser: Browser, live_server: str):
    context = browser.new_context(java_script_enabled=False, base_url=live_server)
    try:
        page = context.new_page()
        page.goto("/")
        page.locator("#site-search-input").fill("durablé")
        page.locator("#site-search-input").press("Enter")
        page.wait_for_url(re.compile(r".*/search\?q=durabl.*"))
        expect(page.locator(".offer-card")).to_have_count(1)
        expect(page.locator(".offer-card .offer-title mark")).to_have_text("Durable")
    finally:
        context.close()


# ---------------------------------------------------------------- "Load more", on a fuller shop


@pytest.fixture(scope="module")
def crowded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of its own whose catalogue is 30 offers that all match "zephyr" (the shared
    live server keeps the four real offers that other tests count on)."""
    instance = tmp_path_factory.mktemp("crowded-instance")
    catalogue = write_catalogue(
        instance / "zephyr.toml",
        [offer_entry(f"zephyr-{n:02d}", title=f"Zephyr review {n:02d}") for n in range(30)],
    )
    yield from serve_shop(instance, "_crowded", workers=1, catalog=catalogue)


def test_load_more_appends_the_next_page_and_moves_focus(browser: Browser, crowded_server: str):
    context = browser.new_context(base_url=crowded_server)
    try:
        page = context.new_page()
        page.goto("/search?q=zephyr")
        cards = page.locator("#search-results .offer-card")
        expect(cards).to_have_count(24)
        more = page.get_by_role("link", name="Load more results")
        more.focus()
        page.keyboard.press("Enter")
        expect(cards).to_have_count(30)
        expect(page.locator(".search-more-button")).to_have_count(0)
        expect(page.locator("#search-live")).to_have_text(
            "Results 25 to 30 of 30 loaded. That is all of them."
        )
        # Focus lands on the first new result, not on the page's top.
        expect(cards.nth(24).locator(".offer-link")).to_be_focused()
        assert page.url.endswith("/search?q=zephyr")
        assert_no_axe_violations(page)
    finally:
        context.close()


def test_without_javascript_load_more_is_a_link_to_the_next_page(
    browser: Browser, crowded_server: str
):
    context = browser.new_context(java_script_enabled=False, base_url=crowded_server)
    try:
        page = context.new_page()
        page.goto("/search?q=zephyr")
        page.get_by_role("link", name="Load more results").click()
        page.wait_for_url("**/search?q=zephyr&page=2")
        expect(page.locator(".offer-card")).to_have_count(6)
        expect(page.get_by_role("link", name="Previous page")).to_be_visible()
    finally:
        context.close()
