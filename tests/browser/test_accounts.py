"""Accounts in Chromium: the whole journey, forms in their error states, the keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import (
    DESKTOP,
    MOBILE,
    assert_no_axe_violations,
    console_errors,
)
from tests.support.browser_accounts import ADMIN_EMAIL, PASSWORD, fresh_email, register
from tests.support.browser_checkout import bag_count

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": DESKTOP, "mobile": MOBILE}
COMMON_PASSWORD = "password123"  # noqa: S105 (in shop/accounts/common-passwords.txt)
COMMON_MESSAGE = "That password is one of the most common ones. Choose another."

# The element that has focus: its id, or its tag and accessible text, and where it is drawn.
FOCUSED = """() => {
  const el = document.activeElement;
  const box = el.getBoundingClientRect();
  return {
    key: el.id || `${el.tagName.toLowerCase()}:${(el.textContent || "").trim()}`,
    top: box.top + window.scrollY,
    left: box.left + window.scrollX,
  };
}"""


@pytest.fixture(scope="module")
def live_server(accounts_server: str) -> str:
    """Overrides the browser fixtures' server: ``page`` and ``new_page`` open the accounts'
    shop (an administrator, generous sign-in limits)."""
    return accounts_server


def flash(page: Page, text: str) -> Locator:
    return page.locator(".flash", has_text=text)


def add_to_bag_from_card(page: Page, title: str) -> None:
    page.locator("article.offer-card", has_text=title).get_by_role(
        "button", name="Add to bag"
    ).click()
    expect(page.locator("#status")).to_contain_text(f"Added {title} to your bag")
    # The "added" notice takes focus (on a phone it covers the menu button); Escape closes it.
    notice = page.locator(".bag-notice")
    expect(notice).to_be_focused()
    page.keyboard.press("Escape")
    expect(notice).to_have_count(0)


def open_account_from_header(page: Page) -> None:
    """Follow the header's Account link (inside the menu on a phone)."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible():
        toggle.click()
        expect(page.locator("#site-menu")).to_be_visible()
    page.locator("#site-menu").get_by_role("link", name="Account").click()


def errors_besides_the_400(page: Page) -> list[str]:
    """Console errors, leaving out Chromium's note of the form page's own 400 answer."""
    return [
        e
        for e in console_errors(page)
        if not ("status of 400 (BAD REQUEST)" in e and e.endswith(f"{page.url})"))
    ]


def session_cookie(page: Page) -> dict:
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "shop_session"]
    return cookie


def assert_error_state(
    page: Page,
    summary_id: str,
    invalid: dict[str, str],
    kept: dict[str, str],
    emptied: list[str],
) -> None:
    """The error summary is shown and focused; each field of ``invalid`` (id: message) is
    marked and described by its message; ``kept`` fields hold what was typed, ``emptied``
    (the passwords) hold nothing."""
    summary = page.locator(f"#{summary_id}")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_have_attribute("autofocus", "")
    expect(summary).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Error: "))
    for field_id, message in invalid.items():
        field = page.locator(f"#{field_id}")
        expect(field).to_have_attribute("aria-invalid", "true")
        described = (field.get_attribute("aria-describedby") or "").split()
        assert f"{field_id}-error" in described, (field_id, described)
        expect(page.locator(f"#{field_id}-error")).to_have_text(message)
        # Every id it points at exists, and the summary links to the field.
        for target in described:
            expect(page.locator(f"#{target}")).to_have_count(1)
        expect(summary.locator(f'a[href="#{field_id}"]')).to_have_text(message)
    for field_id, value in kept.items():
        expect(page.locator(f"#{field_id}")).to_have_value(value)
    for field_id in emptied:
        expect(page.locator(f"#{field_id}")).to_have_value("")
    # Nothing else is marked invalid.
    expect(page.locator('[aria-invalid="true"]')).to_have_count(len(invalid))


def assert_tab_order(page: Page, summary_id: str, expected: list[str]) -> None:
    """From the focused summary, Tab visits ``expected`` (ids, or tag:text) in that order,
    each drawn below (or on the same line to the right of) the one before."""
    expect(page.locator(f"#{summary_id}")).to_be_focused()
    previous = page.evaluate(FOCUSED)
    visited = []
    for _ in expected:
        page.keyboard.press("Tab")
        current = page.evaluate(FOCUSED)
        visited.append(current["key"])
        same_line = abs(current["top"] - previous["top"]) < 4
        assert current["top"] > previous["top"] or (
            same_line and current["left"] > previous["left"]
        ), f"{current['key']} is drawn before {previous['key']}: {previous} -> {current}"
        previous = current
    assert visited == expected


# ---------------------------------------------------------------- the whole journey


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_register_sign_out_and_sign_in_again_keeps_the_bag(
    new_page: Callable[..., Page], live_server: str, viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    email = fresh_email()
    page.goto("/")
    expect(bag_count(page)).to_have_text("0")
    add_to_bag_from_card(page, "R2 Bucket Hat")
    expect(bag_count(page)).to_have_text("1")

    # Account asks a visitor to sign in; from there they create an account.
    open_account_from_header(page)
    expect(page).to_have_url(f"{live_server}/account/sign-in?next=/account")
    expect(page.locator("h1")).to_have_text("Sign in")
    expect(flash(page, "Sign in to see that page.")).to_be_visible()
    page.get_by_role("link", name="Create an account").click()
    expect(page.locator("h1")).to_have_text("Create an account")
    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()

    # Signed in on the account page, the visit's bag now the customer's.
    expect(page).to_have_url(f"{live_server}/account")
    expect(page.locator("h1")).to_have_text("Your account")
    expect(flash(page, "Welcome, Ada Lovelace: your account is ready.")).to_be_visible()
    expect(page.locator(".account-facts")).to_contain_text(email)
    expect(bag_count(page)).to_have_text("1")

    # Sign out: the browser starts an empty visit.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server}/")
    expect(flash(page, "You are signed out.")).to_be_visible()
    expect(bag_count(page)).to_have_text("0")

    # A visitor again, they add another offer, then sign in and keep it.
    add_to_bag_from_card(page, "Durable Object Denim")
    expect(bag_count(page)).to_have_text("1")
    open_account_from_header(page)
    expect(page.locator("h1")).to_have_text("Sign in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Keep me signed in on this device").check()
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(f"{live_server}/account")
    expect(flash(page, "Welcome back, Ada Lovelace.")).to_be_visible()
    expect(flash(page, "1 item from this visit was added to your bag.")).to_be_visible()
    expect(bag_count(page)).to_have_text("2")
    # "Keep me signed in": the session cookie outlives the browser.
    assert session_cookie(page)["expires"] > 0

    page.goto("/bag")
    titles = page.locator(".bag-line-title")
    expect(titles).to_have_count(2)
    expect(titles.filter(has_text="R2 Bucket Hat")).to_have_count(1)
    expect(titles.filter(has_text="Durable Object Denim")).to_have_count(1)
    assert console_errors(page) == []


# ---------------------------------------------------------------- forms with errors


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_sign_in_with_a_wrong_password(new_page: Callable[..., Page], viewport: str):
    page = new_page(VIEWPORTS[viewport])
    email = fresh_email()
    register(page, "Grace Hopper", email)
    page.get_by_role("button", name="Sign out").click()
    expect(bag_count(page)).to_have_text("0")

    page.goto("/account/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("not the right password at all")
    page.get_by_role("button", name="Sign in").click()

    expect(page.locator("h1")).to_have_text("Sign in")
    summary = page.locator("#error-summary")
    expect(summary).to_contain_text("That email and password do not match an account.")
    # The message is about the pair, so no single field is marked.
    assert_error_state(
        page, "error-summary", invalid={}, kept={"email": email}, emptied=["password"]
    )
    assert_no_axe_violations(page)
    assert_tab_order(page, "error-summary", ["email", "password", "remember", "button:Sign in"])
    assert errors_besides_the_400(page) == []


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_register_with_a_common_password_typed_differently_twice(
    new_page: Callable[..., Page], viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    email = fresh_email()
    page.goto("/account/register")
    page.get_by_label("Name").fill("Katherine Johnson")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(COMMON_PASSWORD)
    page.get_by_label("Password again").fill("password1234")
    page.get_by_role("button", name="Create account").click()

    expect(page.locator("h1")).to_have_text("Create an account")
    assert_error_state(
        page,
        "error-summary",
        invalid={
            "password": COMMON_MESSAGE,
            "confirm": "The two passwords are not the same.",
        },
        kept={"name": "Katherine Johnson", "email": email},
        emptied=["password", "confirm"],
    )
    # The hint still describes the password field, before its error.
    expect(page.locator("#password")).to_have_attribute(
        "aria-describedby", "password-hint password-error"
    )
    assert_no_axe_violations(page)
    assert_tab_order(
        page,
        "error-summary",
        [
            f"a:{COMMON_MESSAGE}",
            "a:The two passwords are not the same.",
            "name",
            "email",
            "password",
            "confirm",
            "button:Create account",
        ],
    )
    assert errors_besides_the_400(page) == []


def test_register_refuses_password1234_as_a_common_password(page: Page):
    page.goto("/account/register")
    page.get_by_label("Name").fill("Dorothy Vaughan")
    page.get_by_label("Email").fill(fresh_email())
    page.get_by_label("Password", exact=True).fill("password1234")
    page.get_by_label("Password again").fill("password1234")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator("#password-error")).to_have_text(COMMON_MESSAGE)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_reset_request_with_a_malformed_email(new_page: Callable[..., Page], viewport: str):
    page = new_page(VIEWPORTS[viewport])
    page.goto("/account/reset")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_role("button", name="Send the link").click()

    expect(page.locator("h1")).to_have_text("Reset your password")
    assert_error_state(
        page,
        "error-summary",
        invalid={"email": "Enter an email address like name@example.com."},
        kept={"email": "not-an-email"},
        emptied=[],
    )
    assert_no_axe_violations(page)
    assert_tab_order(
        page,
        "error-summary",
        ["a:Enter an email address like name@example.com.", "email", "button:Send the link"],
    )
    assert errors_besides_the_400(page) == []


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_change_password_with_a_wrong_current_password(
    new_page: Callable[..., Page], live_server: str, viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    register(page, "Margaret Hamilton", fresh_email())
    page.get_by_label("Current password").fill("not my password, surely")
    page.get_by_label("New password", exact=True).fill("a brand new passphrase 7")
    page.get_by_label("New password again").fill("a brand new passphrase 7")
    page.get_by_role("button", name="Change password").click()

    expect(page).to_have_url(f"{live_server}/account/password")
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.locator("#sign-out-errors")).to_have_count(0)
    assert_error_state(
        page,
        "password-errors",
        invalid={"current_password": "That is not your current password."},
        kept={},
        emptied=["current_password", "password", "confirm"],
    )
    assert_no_axe_violations(page)
    assert_tab_order(
        page,
        "password-errors",
        [
            "a:That is not your current password.",
            "current_password",
            "password",
            "confirm",
            "button:Change password",
        ],
    )
    assert errors_besides_the_400(page) == []


# ---------------------------------------------------------------- keyboard only


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_sign_in_with_the_keyboard_only(
    new_page: Callable[..., Page], live_server: str, viewport: str
):
    setup = new_page(VIEWPORTS[viewport])
    email = fresh_email()
    register(setup, "Alan Turing", email)
    setup.context.close()

    page = new_page(VIEWPORTS[viewport])
    page.goto("/account/sign-in")
    email_field = page.get_by_label("Email")
    for _ in range(30):
        page.keyboard.press("Tab")
        if email_field.evaluate("el => el === document.activeElement"):
            break
    expect(email_field).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    remember = page.get_by_label("Keep me signed in on this device")
    expect(remember).to_be_focused()
    expect(remember).not_to_be_checked()
    page.keyboard.press("Space")
    expect(remember).to_be_checked()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server}/account")
    expect(flash(page, "Welcome back, Alan Turing.")).to_be_visible()
    assert session_cookie(page)["expires"] > 0
    assert console_errors(page) == []


# ---------------------------------------------------------------- administrators


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_admin_page_lists_the_accounts(
    new_page: Callable[..., Page], live_server: str, viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    page.goto("/account/sign-in")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server}/account")
    # The header links to the page for administrators (inside the menu on a phone).
    expect(page.locator('#site-menu a[href="/admin"]')).to_have_text("Admin")

    page.goto("/admin")
    table = page.get_by_role("table", name="Accounts")
    expect(table.get_by_role("columnheader")).to_have_text(["Name", "Email", "Since", "Role"])
    row = table.get_by_role("row").filter(has_text=ADMIN_EMAIL)
    expect(row.get_by_role("cell")).to_have_count(4)
    expect(row.get_by_role("cell").nth(3)).to_have_text("Administrator")
    widths = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"/admin is {widths[0]}px wide on a {widths[1]}px screen"
    assert_no_axe_violations(page)
    assert console_errors(page) == []
