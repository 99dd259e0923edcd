"""The layout in Chromium: the focus after Remove, and the links to the checkout.

This module serves the accounts tests' shop (an administrator, generous sign-in limits).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import assert_no_axe_violations
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


def tab_to(page: Page, target) -> None:
    """Press Tab until ``target`` has the focus."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    expect(target).to_be_focused()


# ---------------------------------------------------------------- 4. focus after Remove


def test_remove_on_the_bag_page_leaves_the_focus_on_the_next_line(page: Page):
    for slug, quantity in (
        ("r2-bucket-hat", 2),
        ("durable-object-denim", 1),
        ("five-me-flare-jacket", 1),
    ):
        add_quantity(page, slug, quantity)
    page.goto("/bag")

    # − down to 1 disables the button that had the focus: the quantity field takes it.
    fewer = page.get_by_role("button", name="One fewer R2 Bucket Hat")
    tab_to(page, fewer)
    page.keyboard.press("Enter")
    quantity = page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")
    expect(quantity).to_have_value("1")
    expect(quantity).to_be_focused()
    remove = {
        title: page.get_by_role("button", name=f"Remove {title}")
        for title in ("R2 Bucket Hat", "Durable Object Denim", "Cloudflare Five-Me-Flare Jacket")
    }
    expect(page.locator(".bag-line")).to_have_count(3)
    order = page.locator(".bag-line-title").all_inner_texts()

    # The keyboard: Tab to the first line's Remove, Enter.
    tab_to(page, remove[order[0]])
    page.keyboard.press("Enter")
    expect(page.locator(".bag-line")).to_have_count(2)
    expect(remove[order[1]]).to_be_focused()

    # The last line: the focus goes to the line before it.
    tab_to(page, remove[order[2]])
    page.keyboard.press("Enter")
    expect(page.locator(".bag-line")).to_have_count(1)
    expect(remove[order[1]]).to_be_focused()

    # The only line: the bag is empty, the focus is on its heading.
    page.keyboard.press("Enter")
    expect(page.get_by_text("Your bag is empty.")).to_be_visible()
    expect(page.get_by_role("heading", name="Your bag", exact=True)).to_be_focused()
    assert page.evaluate("document.activeElement !== document.body")
    assert_no_axe_violations(page)


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
