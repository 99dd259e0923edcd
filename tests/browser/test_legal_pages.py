"""The privacy, terms, refunds and contact pages in Chromium: reached from the footer,
readable at 320 px, and without axe-core violations."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import DESKTOP, assert_no_axe_violations, console_errors

pytestmark = pytest.mark.browser

NARROW = {"width": 320, "height": 720}
VIEWPORTS = {"desktop": DESKTOP, "320px": NARROW}
# The footer's link, the page's address and its heading.
PAGES = {
    "Privacy": ("/privacy", "Privacy notice"),
    "Terms": ("/terms", "Terms of sale"),
    "Refunds": ("/refunds", "Refunds and cancellation"),
    "Contact": ("/contact", "Contact and imprint"),
}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("link", list(PAGES))
def test_each_page_opens_from_the_footer_and_passes_axe(
    new_page: Callable[..., Page], live_server: str, link: str, viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    page.goto("/", wait_until="load")
    page.locator(".site-footer").get_by_role("link", name=link, exact=True).click()
    path, heading = PAGES[link]
    expect(page).to_have_url(f"{live_server}{path}")
    expect(page.locator("main h1")).to_have_text(heading)
    expect(page.locator("main h2").first).to_be_visible()
    # Nothing overflows sideways at 320 px: no horizontal scrolling to read a line.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{path} is {width}px wide"
    assert_no_axe_violations(page)
    assert console_errors(page) == []
