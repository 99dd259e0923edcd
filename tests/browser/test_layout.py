"""The layout in Chromium: the links to the checkout.

This module serves the accounts tests' shop (an administrator, generous sign-in limits).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_accounts import live_server  # noqa: F401 (this module's shop)
from tests.browser.test_checkout import EMPTY_BAG

pytestmark = pytest.mark.browser


# ---------------------------------------------------------------- helpers


def add_quantity(page: Page, slug: str, quantity: int) -> None:
    """Put ``quantity`` of an offer in the bag from its page, and close the notice."""
    page.goto(f"/offers/{slug}")
    page.get_by_label("Quantity").fill(str(quantity))
    page.get_by_role("button", name="Add to bag").click()
    notice = page.locator(".bag-notice")
    expect(notice).to_be_visible()
    notice.get_by_role("link", name="Close the notification").click()
    expect(notice).to_have_count(0)


# ---------------------------------------------------------------- 5. the links to the checkout


def test_start_checkout_and_the_footer_link_open_the_checkout(page: Page, live_server: str):  # noqa: F811
    page.goto("/")
    expect(page.get_by_role("link", name="How checkout works")).to_have_attribute(
        "href", "#checkout"
    )
    # An empty bag: the checkout sends the visitor to the offers.
    page.get_by_role("link", name="Start checkout").click()
    expect(page).to_have_url(f"{live_server}/offers")
    expect(page.locator(".flash")).to_have_text(EMPTY_BAG)

    add_quantity(page, "r2-bucket-hat", 1)
    page.goto("/")
    page.get_by_role("link", name="Start checkout").click()
    expect(page).to_have_url(f"{live_server}/checkout")
    page.goto("/offers")
    page.locator(".site-footer").get_by_role("link", name="Checkout").click()
    expect(page).to_have_url(f"{live_server}/checkout")
    expect(page.locator(".checkout-summary")).to_contain_text("R2 Bucket Hat")
