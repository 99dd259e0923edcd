"""The bag and the wishlist in Chromium: live counters, focus, other tabs, history."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import CSP_LISTENER, DESKTOP, console_errors

pytestmark = pytest.mark.browser


def counter(page: Page, name: str):
    return page.locator(f"#{name}-counter .count")


def mark_document(page: Page) -> None:
    """Tag the current document; a full reload would lose the tag."""
    page.evaluate("window.__sameDocument = true")


def same_document(page: Page) -> bool:
    return page.evaluate("window.__sameDocument === true")


def test_add_from_a_card_updates_the_counter_without_a_reload(page: Page):
    page.goto("/")
    mark_document(page)
    expect(counter(page, "bag")).to_have_text("0")
    card = page.locator("article.offer-card", has_text="Durable Object Denim")
    card.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("1")
    expect(page.locator("#status")).to_have_text("Added Durable Object Denim to your bag")
    assert same_document(page)
    # The bag link's accessible name carries the count.
    expect(page.get_by_role("link", name="Bag 1")).to_be_visible()
    # The notice took focus; Escape closes it and gives focus back to the button.
    notice = page.locator(".bag-notice")
    expect(notice).to_be_focused()
    expect(notice.get_by_role("link", name="View bag")).to_be_visible()
    page.keyboard.press("Escape")
    expect(notice).to_have_count(0)
    expect(card.get_by_role("button", name="Add to bag")).to_be_focused()
    # A second click is a second add (the form came back with a fresh token).
    card.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("2")
    assert console_errors(page) == []


def test_wishlist_toggle_is_pressed_and_unpressed(page: Page):
    page.goto("/offers")
    card = page.locator("article.offer-card", has_text="R2 Bucket Hat")
    button = card.get_by_role("button", name="Wishlist")
    expect(button).to_have_attribute("aria-pressed", "false")
    button.click()
    expect(card.get_by_role("button", name="Wishlist")).to_have_attribute("aria-pressed", "true")
    expect(counter(page, "wishlist")).to_have_text("1")
    expect(card.get_by_role("button", name="Wishlist")).to_be_focused()
    card.get_by_role("button", name="Wishlist").click()
    expect(card.get_by_role("button", name="Wishlist")).to_have_attribute("aria-pressed", "false")
    expect(counter(page, "wishlist")).to_have_text("0")


def test_quantity_changes_on_the_bag_page_are_saved(page: Page):
    page.goto("/offers/r2-bucket-hat")
    page.get_by_label("Quantity").fill("2")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("2")
    page.goto("/bag")
    mark_document(page)
    quantity = page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")
    quantity.fill("4")
    quantity.press("Tab")
    expect(counter(page, "bag")).to_have_text("4")
    expect(page.locator(".bag-line-total")).to_contain_text("$7,200")
    page.get_by_role("button", name="One more R2 Bucket Hat").click()
    expect(counter(page, "bag")).to_have_text("5")
    expect(page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")).to_have_value("5")
    # Enter in the field saves the typed number, not a stepper button's.
    field = page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")
    field.fill("3")
    field.press("Enter")
    expect(counter(page, "bag")).to_have_text("3")
    # A bad number gets a message in place and keeps what was typed.
    field = page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")
    field.fill("12")
    field.press("Tab")
    expect(page.locator(".field-error")).to_have_text("Choose a quantity from 1 to 10.")
    expect(page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")).to_have_value("12")
    expect(counter(page, "bag")).to_have_text("3")
    assert same_document(page)
    page.get_by_role("button", name="Remove R2 Bucket Hat").click()
    expect(page.get_by_text("Your bag is empty.")).to_be_visible()
    expect(counter(page, "bag")).to_have_text("0")


def test_a_number_typed_while_the_last_one_is_saved_is_not_lost(page: Page):
    """A quantity changed again before the answer to the last change came (a slow
    connection): the newer number is the one sent, checked and kept on the screen."""
    page.goto("/offers/r2-bucket-hat")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("1")
    page.goto("/bag")
    # Both changes in one go, so the first one's request is surely still on its way.
    page.evaluate(
        """() => {
        const field = document.querySelector(".quantity-input");
        for (const typed of ["3", "12"]) {
            field.value = typed;
            field.dispatchEvent(new Event("change", {bubbles: true}));
        }
    }"""
    )
    expect(page.locator(".field-error")).to_have_text("Choose a quantity from 1 to 10.")
    expect(page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat")).to_have_value("12")


def test_another_tab_follows_the_counter(new_page: Callable[..., Page]):
    first = new_page(DESKTOP)
    first.goto("/")
    second = first.context.new_page()
    second.goto("/offers")
    expect(counter(second, "bag")).to_have_text("0")
    first.locator("article.offer-card", has_text="R2 Bucket Hat").get_by_role(
        "button", name="Add to bag"
    ).click()
    expect(counter(first, "bag")).to_have_text("1")
    expect(counter(second, "bag")).to_have_text("1")
    second.locator("article.offer-card", has_text="Durable Object Denim").get_by_role(
        "button", name="Wishlist"
    ).click()
    expect(counter(first, "wishlist")).to_have_text("1")


def test_going_back_shows_the_right_count(page: Page):
    page.goto("/")
    page.locator("article.offer-card", has_text="R2 Bucket Hat").get_by_role(
        "button", name="Add to bag"
    ).click()
    expect(counter(page, "bag")).to_have_text("1")
    page.goto("/offers/durable-object-denim")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("2")
    page.go_back()
    expect(page).to_have_url("/")
    expect(counter(page, "bag")).to_have_text("2")


def test_everything_works_without_javascript(browser: Browser, live_server: str):
    context = browser.new_context(java_script_enabled=False, base_url=live_server)
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    try:
        page.goto("/offers")
        card = page.locator("article.offer-card", has_text="R2 Bucket Hat")
        card.get_by_role("button", name="Add to bag").click()
        expect(page).to_have_url("/offers")
        expect(counter(page, "bag")).to_have_text("1")
        expect(page.locator(".bag-notice")).to_contain_text("R2 Bucket Hat")
        card = page.locator("article.offer-card", has_text="R2 Bucket Hat")
        card.get_by_role("button", name="Wishlist").click()
        expect(counter(page, "wishlist")).to_have_text("1")
        page.goto("/bag")
        page.get_by_role("spinbutton", name="Quantity of R2 Bucket Hat").fill("3")
        page.get_by_role("button", name="Update the quantity of R2 Bucket Hat").click()
        expect(page).to_have_url("/bag")
        expect(counter(page, "bag")).to_have_text("3")
        expect(page.locator(".flash")).to_have_text("R2 Bucket Hat: quantity 3")
        page.get_by_role("button", name="One fewer R2 Bucket Hat").click()
        expect(counter(page, "bag")).to_have_text("2")
        # The mobile menu opens without JavaScript too (a popover).
        page.set_viewport_size({"width": 375, "height": 812})
        page.get_by_role("button", name="Menu").click()
        expect(page.locator("#site-menu")).to_be_visible()
    finally:
        context.close()


def add_button(page: Page, title: str):
    return page.locator("article.offer-card", has_text=title).get_by_role(
        "button", name="Add to bag"
    )


def test_back_then_add_adds(page: Page):
    """Offer page → Add → bag → Back → Add: the page shown again adds."""
    page.goto("/offers/durable-object-denim")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("1")
    page.goto("/bag")
    page.go_back()
    expect(page).to_have_url("/offers/durable-object-denim")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("2")
    assert console_errors(page) == []


# The page's Add form sent as it is, as an earlier click on this very page (before it was
# left and restored from the browser's cache) sent it: its one-time token is spent.
SPEND_THE_TOKEN = """async () => {
  const form = document.querySelector("form[id^='add-detail-']");
  await fetch(form.action, {method: "POST", body: new FormData(form)});
}"""


def test_a_page_shown_again_gets_fresh_forms(page: Page):
    """A page restored from the history carries the tokens it was first sent with, which
    its first use spent; shown again, it gets fresh ones, so pressing Add adds."""
    page.goto("/offers/durable-object-denim")
    page.evaluate(SPEND_THE_TOKEN)
    with page.expect_response(lambda r: "/bag/counters?forms=" in r.url):
        page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")  # shown again
    expect(counter(page, "bag")).to_have_text("1")
    page.get_by_role("button", name="Add to bag").click()
    expect(counter(page, "bag")).to_have_text("2")
    expect(page.locator("#status")).to_contain_text("Added Durable Object Denim")
    assert console_errors(page) == []


def test_wishlist_marks_follow_another_tab(new_page: Callable[..., Page]):
    first = new_page(DESKTOP)
    first.goto("/offers")
    second = first.context.new_page()
    second.goto("/offers")
    heart = first.locator("article.offer-card", has_text="R2 Bucket Hat").get_by_role(
        "button", name="Wishlist"
    )
    expect(heart).to_have_attribute("aria-pressed", "false")
    second.locator("article.offer-card", has_text="R2 Bucket Hat").get_by_role(
        "button", name="Wishlist"
    ).click()
    expect(counter(second, "wishlist")).to_have_text("1")
    expect(heart).to_have_attribute("aria-pressed", "true")  # told by the other tab
    expect(counter(first, "wishlist")).to_have_text("1")


def test_an_add_after_signing_out_elsewhere_is_sent_again_with_a_fresh_token(page: Page):
    page.goto("/")
    page.context.clear_cookies()  # the session ended in another tab, or was cleared
    with page.expect_response(lambda r: r.url.endswith("/bag/add") and r.status == 400):
        add_button(page, "R2 Bucket Hat").click()
    expect(counter(page, "bag")).to_have_text("1")  # sent again, by itself
    add_button(page, "Durable Object Denim").click()
    expect(counter(page, "bag")).to_have_text("2")
    assert [e for e in console_errors(page) if "400" not in e] == []
