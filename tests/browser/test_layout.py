"""The layout in Chromium: the header at every width, phones, the notice after an add, the
focus after Remove, and the links to the checkout.

This module serves a shop like the accounts tests' (``accounts_server``: an administrator,
generous sign-in limits), so that it can look at the header signed out, signed in and as
an administrator.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    DESKTOP,
    MOBILE,
    assert_no_axe_violations,
    assert_no_axe_violations_without_javascript,
    assert_no_overflow,
    page_factory,
)
from tests.support.browser_accounts import ADMIN_EMAIL, fresh_email, register, sign_in
from tests.support.browser_checkout import (
    EMPTY_BAG,
    ORDER_PAGE,
    Buyer,
    add_to_bag,
    fill_without_javascript,
    submit,
)

pytestmark = pytest.mark.browser

PHONES = {"320": {"width": 320, "height": 640}, "375": MOBILE}
WIDTHS = range(320, 1921, 20)
GAP = 4  # the least space between two items of the header, in CSS pixels
NOTICE_SECONDS = 10  # the notice after an add leaves on its own within this time

# The header's visible interactive items, named, with their boxes.
HEADER_ITEMS = """() => {
  const header = document.querySelector(".site-header");
  const items = [
    ["brand", header.querySelector(".brand")],
    ["search input", header.querySelector("#site-search-input")],
    ["search button", header.querySelector(".site-search [type=submit]")],
    ["menu toggle", header.querySelector(".menu-toggle")],
    ...[...header.querySelectorAll("a:not(.brand)")].map((a) => [a.textContent.trim(), a]),
  ];
  return items
    .filter(([, el]) => el && el.checkVisibility({visibilityProperty: true}))
    .map(([name, el]) => {
      const box = el.getBoundingClientRect();
      return {name, left: box.left, right: box.right, top: box.top, bottom: box.bottom};
    })
    .filter((box) => box.right > box.left && box.bottom > box.top);
}"""

# How many lines the element's visible text takes (text for screen readers left out).
TEXT_LINES = """(el) => {
  const range = document.createRange();
  const tops = new Set();
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (!node.textContent.trim() || node.parentElement.closest(".visually-hidden")) continue;
    range.selectNodeContents(node);
    for (const box of range.getClientRects()) if (box.width > 0) tops.add(Math.round(box.top));
  }
  return tops.size;
}"""

# Whether what is drawn at the middle of the element is the element (or inside it).
UNCOVERED = """(el) => {
  const box = el.getBoundingClientRect();
  const top = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return !!top && (top === el || el.contains(top));
}"""


@pytest.fixture(scope="module")
def live_server(accounts_server: str) -> str:
    """Overrides the browser fixtures' server: ``page`` and ``new_page`` open the accounts'
    shop, so that the header is seen signed out, signed in and as the administrator."""
    return accounts_server


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


def sign_in_as_admin(page: Page) -> None:
    """Sign in as the shop's administrator, whose bag the other tests may have filled: it
    starts empty."""
    sign_in(page, ADMIN_EMAIL)
    page.goto("/bag")
    clear = page.get_by_role("button", name="Clear the bag")
    if clear.count():
        clear.click()
        expect(page.get_by_text("Your bag is empty.")).to_be_visible()


def save_to_wishlist(page: Page, slug: str) -> None:
    page.goto(f"/offers/{slug}")
    button = page.get_by_role("button", name="Wishlist")
    if button.get_attribute("aria-pressed") == "false":
        button.click()
    expect(page.get_by_role("button", name="Wishlist")).to_have_attribute("aria-pressed", "true")


def tab_to(page: Page, target) -> None:
    """Press Tab until ``target`` has the focus."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if target.evaluate("el => el === document.activeElement"):
            return
    expect(target).to_be_focused()


def overlaps(boxes: list[dict]) -> list[str]:
    """The pairs of boxes closer to each other than GAP."""
    found = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["right"] + GAP <= b["left"]
                or b["right"] + GAP <= a["left"]
                or a["bottom"] + GAP <= b["top"]
                or b["bottom"] + GAP <= a["top"]
            )
            if not apart:
                found.append(f"{a['name']!r} and {b['name']!r} touch or overlap")
    return found


def assert_header_fits(page: Page, width: int) -> list[str]:
    """What is wrong with the header at this width (nothing: an empty list)."""
    page.set_viewport_size({"width": width, "height": 800})
    boxes = page.evaluate(HEADER_ITEMS)
    problems = overlaps(boxes)
    for box in boxes:
        if box["left"] < 0 or box["right"] > width:
            problems.append(f"{box['name']!r} sticks out ({box['left']:.0f}-{box['right']:.0f})")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"the page is {scroll_width}px wide")
    names = {box["name"] for box in boxes}
    for name in ("brand", "search input", "search button"):
        if name not in names:
            problems.append(f"{name} is not shown")
    return [f"{width}px: {problem}" for problem in problems]


def assert_on_one_line(element, what: str, most: int = 1) -> None:
    lines = element.evaluate(TEXT_LINES)
    assert 1 <= lines <= most, f"{what} takes {lines} lines"


@pytest.fixture
def no_script_page(browser: Browser, live_server: str) -> Iterator[Callable[..., Page]]:
    """Pages with JavaScript turned off, each in a fresh context, closed after the test."""
    with page_factory(browser) as make:
        yield lambda viewport=DESKTOP: make(live_server, viewport, javascript=False)


# ---------------------------------------------------------------- 1. the header at every width


@pytest.mark.parametrize("state", ["signed out", "signed in", "admin"])
def test_the_header_never_overlaps_from_320_to_1920px(new_page: Callable[..., Page], state: str):
    page = new_page(DESKTOP)
    if state == "signed in":
        register(page, "Ada Lovelace", fresh_email())
    elif state == "admin":
        sign_in_as_admin(page)
        # Two-digit counters: the widest the header gets.
        add_quantity(page, "r2-bucket-hat", 10)
        add_quantity(page, "durable-object-denim", 2)
        save_to_wishlist(page, "r2-bucket-hat")
    page.goto("/")
    if state == "admin":
        expect(page.locator("#bag-counter .count")).to_have_text("12")
        expect(page.locator(".site-header a", has_text="Admin")).to_have_count(1)
    problems = []
    for width in WIDTHS:
        problems += assert_header_fits(page, width)
    assert problems == [], f"{len(problems)} problem(s):\n" + "\n".join(problems[:30])


# ---------------------------------------------------------------- 2. phones


@pytest.mark.parametrize("phone", PHONES)
def test_the_counters_show_in_the_bar_on_a_phone(new_page: Callable[..., Page], phone: str):
    page = new_page(PHONES[phone])
    page.goto("/offers/r2-bucket-hat")
    menu = page.locator("#site-menu")
    # The menu is closed: its other links wait behind the Menu button.
    assert not menu.evaluate("el => el.matches(':popover-open')")
    for name in ("Account", "Checkout"):
        expect(menu.get_by_role("link", name=name)).to_be_hidden()
    for name, counter_id in (("Wishlist", "wishlist-counter"), ("Bag", "bag-counter")):
        link = page.get_by_role("link", name=re.compile(rf"^{name} \d+$"))
        expect(link).to_have_count(1)
        expect(link).to_have_id(counter_id)
        expect(link).to_be_in_viewport(ratio=1)
        expect(page.locator(f"[id={counter_id}]")).to_have_count(1)
        box = link.bounding_box()
        assert box is not None and box["height"] >= 24 and box["width"] >= 24, box
    # The counters in the bar follow an add and a save (out-of-band swaps).
    page.get_by_role("button", name="Add to bag").click()
    expect(page.locator("#bag-counter .count")).to_have_text("1")
    page.evaluate("window.scrollTo(0, 0)")  # the click scrolled to the button
    expect(page.locator("#bag-counter .count")).to_be_in_viewport()
    expect(page.locator(".bag-notice")).to_be_focused()
    assert_no_axe_violations(page)
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Wishlist").click()
    expect(page.locator("#wishlist-counter .count")).to_have_text("1")
    expect(page.get_by_role("link", name="Bag 1")).to_be_visible()
    expect(page.get_by_role("link", name="Wishlist 1")).to_be_visible()
    # Opened, the menu holds them all.
    page.get_by_role("button", name="Menu").click()
    assert menu.evaluate("el => el.matches(':popover-open')")
    for name in ("Account", "Wishlist 1", "Bag 1", "Checkout"):
        expect(menu.get_by_role("link", name=name)).to_be_visible()
    assert_no_axe_violations(page)


@pytest.mark.parametrize("phone", PHONES)
def test_bag_and_wishlist_lines_fit_a_phone(new_page: Callable[..., Page], phone: str):
    page = new_page(PHONES[phone])
    add_quantity(page, "five-me-flare-jacket", 3)
    save_to_wishlist(page, "durable-object-denim")
    save_to_wishlist(page, "realtime-websocket-sync-kit")
    page.goto("/bag")
    total = page.locator(".bag-line-total")
    expect(total).to_contain_text("$13,500")
    assert_on_one_line(total, "the line total $13,500")
    assert_on_one_line(page.locator(".subtotal strong"), "the subtotal")
    assert_no_overflow(page)
    page.goto("/wishlist")
    buttons = page.get_by_role("button", name=re.compile("^Move to bag"))
    expect(buttons).to_have_count(2)
    for index in range(2):
        assert_on_one_line(buttons.nth(index), "Move to bag")
    assert_no_overflow(page)
    assert_no_axe_violations(page)


def place_order_without_javascript(page: Page) -> str:
    """As the signed-in customer of ``page``: one jacket, ordered; the order page's URL."""
    add_to_bag(page, "five-me-flare-jacket", "Cloudflare Five-Me-Flare Jacket")
    page.goto("/checkout")
    fill_without_javascript(page, Buyer.make())
    assert submit(page).status == 303
    expect(page).to_have_url(ORDER_PAGE)
    return page.url


def test_no_page_scrolls_sideways_at_320px(
    new_page: Callable[..., Page], no_script_page: Callable[..., Page]
):
    narrow = {"width": 320, "height": 640}
    page = new_page(narrow)
    problems = []

    def check(path: str, status: int = 200) -> None:
        response = page.goto(path)
        assert response is not None and response.status == status, path
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        if widths[0] > widths[1]:
            # Name the innermost elements that reach past the screen's edge, to say why.
            culprits = page.evaluate(
                """(edge) => [...document.body.querySelectorAll('*')]
                    .filter((el) => el.getBoundingClientRect().right > edge
                        && ![...el.children].some((c) => c.getBoundingClientRect().right > edge))
                    .slice(0, 5)
                    .map((el) => el.tagName.toLowerCase()
                        + (el.className ? '.' + String(el.className).split(' ').join('.') : '')
                        + ' ' + el.textContent.trim().slice(0, 40))""",
                widths[1],
            )
            problems.append(f"{path} is {widths[0]}px wide: {culprits}")

    for path in ("/account/sign-in", "/account/register", "/offers/nope"):
        check(path, 404 if path == "/offers/nope" else 200)

    # An order of the administrator's, placed without JavaScript.
    setup = no_script_page(narrow)
    sign_in_as_admin(setup)
    order_url = place_order_without_javascript(setup)
    reference = re.search(r"/orders/([A-Z0-9-]+)", order_url)[1]

    sign_in_as_admin(page)
    add_quantity(page, "five-me-flare-jacket", 3)
    save_to_wishlist(page, "r2-bucket-hat")
    for path in (
        "/",
        "/offers",
        "/offers/r2-bucket-hat",
        "/search?q=sync",
        "/bag",
        "/wishlist",
        "/checkout",
        order_url,
        "/account",
        "/admin",
        "/admin/orders",
        f"/admin/orders/{reference}",
    ):
        check(path)
    assert problems == [], "\n".join(problems)


def test_the_account_and_admin_order_tables_fit_a_phone(
    new_page: Callable[..., Page], no_script_page: Callable[..., Page]
):
    narrow = {"width": 320, "height": 640}
    setup = no_script_page(narrow)
    sign_in_as_admin(setup)
    order_url = place_order_without_javascript(setup)
    reference = re.search(r"/orders/([A-Z0-9-]+)", order_url)[1]

    page = new_page(narrow)
    sign_in(page, ADMIN_EMAIL)
    page.goto("/account")
    table = page.get_by_role("table", name="Orders")
    row = table.get_by_role("row").filter(has_text=reference)
    expect(row).to_have_count(1)
    assert_no_overflow(page)
    for cell in row.get_by_role("cell").all():
        cell.scroll_into_view_if_needed()
        expect(cell).to_be_in_viewport(ratio=1)
    assert_on_one_line(row.get_by_role("link", name=reference), "the order's reference")
    assert_no_axe_violations(page)

    page.goto(f"/admin/orders?q={reference}")
    row = page.locator(".admin-orders-table tbody tr").filter(has_text=reference)
    expect(row).to_have_count(1)
    assert_no_overflow(page)
    # Every cell is on the screen, none hidden in a box that scrolls sideways.
    for cell in row.locator("th, td").all():
        cell.evaluate("el => window.scrollTo(0, el.getBoundingClientRect().top + scrollY - 100)")
        expect(cell).to_be_in_viewport(ratio=1)
        assert cell.evaluate(UNCOVERED), f"{cell.inner_text()!r} is hidden"
    cells = row.locator("td")
    expect(cells.nth(3)).to_have_text("Submitted, invoice follows")
    expect(cells.nth(4)).to_have_text("$4,500")
    # The name and the email are not broken in the middle of a word.
    assert_on_one_line(cells.nth(1), "the buyer's name")
    assert_on_one_line(cells.nth(2), "the buyer's email")
    assert_on_one_line(row.locator("th"), "the reference")
    assert_no_axe_violations(page)


@pytest.mark.parametrize("size", ["320", "desktop"])
def test_the_admin_order_page_in_its_states(
    size: str, new_page: Callable[..., Page], no_script_page: Callable[..., Page]
):
    """The owner's page of one order: fresh, after a move with a note, and refused when a
    second tab ended the order's life first (the choice and the note come back). Each state
    fits the screen and has no axe violations."""
    viewport = PHONES["320"] if size == "320" else DESKTOP
    setup = no_script_page(viewport)
    sign_in_as_admin(setup)
    reference = re.search(r"/orders/([A-Z0-9-]+)", place_order_without_javascript(setup))[1]

    page = new_page(viewport)
    sign_in(page, ADMIN_EMAIL)
    page.goto(f"/admin/orders/{reference}")
    assert_no_overflow(page)
    assert_no_axe_violations(page)

    page.get_by_label("New status").select_option(label="Invoiced, payment awaited")
    page.get_by_label("Note for the history (optional)").fill("Sent with the PO number.")
    page.get_by_role("button", name="Change the status").click()
    history = page.get_by_role("table", name=re.compile("What happened"))
    expect(history).to_contain_text("Sent with the PO number.")
    assert_no_overflow(page)
    assert_no_axe_violations(page)

    # A second tab, opened before the order was cancelled in this one.
    stale = no_script_page(viewport)
    sign_in(stale, ADMIN_EMAIL)
    stale.goto(f"/admin/orders/{reference}")
    page.get_by_label("New status").select_option(label="Cancelled")
    page.get_by_role("button", name="Change the status").click()
    expect(page.locator(".order-status")).to_have_text("Cancelled")

    stale.get_by_label("New status").select_option(label="Paid")
    stale.get_by_label("Note for the history (optional)").fill("Paid by bank transfer.")
    stale.get_by_role("button", name="Change the status").click()
    expect(stale.get_by_role("alert")).to_contain_text("There is a problem")
    # The order's life is over, so the note typed with the move waits in the note form.
    expect(stale.get_by_label("Note (only administrators see it)")).to_have_value(
        "Paid by bank transfer."
    )
    assert_no_overflow(stale)
    assert_no_axe_violations_without_javascript(stale)


# ---------------------------------------------------------------- 3. the notice after an add


def assert_bag_counter_uncovered(page: Page) -> None:
    counter = page.locator("#bag-counter")
    expect(counter).to_be_in_viewport(ratio=1)
    assert counter.evaluate(UNCOVERED), "the notice covers the Bag counter"
    notice = page.locator(".bag-notice").bounding_box()
    box = counter.bounding_box()
    assert notice is not None and box is not None
    apart = (
        box["x"] + box["width"] <= notice["x"]
        or notice["x"] + notice["width"] <= box["x"]
        or box["y"] + box["height"] <= notice["y"]
        or notice["y"] + notice["height"] <= box["y"]
    )
    assert apart, f"the notice {notice} covers the Bag counter {box}"


@pytest.mark.parametrize("viewport", {"desktop": DESKTOP, **PHONES})
def test_the_notice_leaves_the_counter_visible_and_leaves_on_its_own(
    new_page: Callable[..., Page], viewport: str
):
    size = DESKTOP if viewport == "desktop" else PHONES[viewport]
    page = new_page(size)
    page.clock.install()
    page.goto("/offers")
    card = page.locator("article.offer-card", has_text="R2 Bucket Hat")
    add = card.get_by_role("button", name="Add to bag")
    add.click()
    notice = page.locator(".bag-notice")
    expect(notice).to_be_focused()
    expect(page.locator("#bag-counter .count")).to_have_text("1")
    # Back to the top (the click scrolled to the button): the header is in sight, and the
    # notice leaves its counter uncovered.
    page.evaluate("window.scrollTo(0, 0)")
    assert_bag_counter_uncovered(page)
    if viewport != "desktop":
        box = notice.bounding_box()
        assert box is not None and box["height"] <= size["height"] / 6, (
            f"the notice takes {box['height']:.0f}px of a {size['height']}px screen"
        )

    # Untouched, it leaves on its own, and the focus goes back to the button.
    page.clock.run_for(NOTICE_SECONDS * 1000)
    expect(notice).to_have_count(0)
    expect(card.get_by_role("button", name="Add to bag")).to_be_focused()


def test_the_notice_stays_while_it_is_pointed_at_or_focused(page: Page):
    page.clock.install()
    page.goto("/offers")
    card = page.locator("article.offer-card", has_text="Durable Object Denim")
    card.get_by_role("button", name="Add to bag").click()
    notice = page.locator(".bag-notice")
    expect(notice).to_be_focused()

    # The pointer over it keeps it; it leaves a while after the pointer does.
    notice.hover()
    page.clock.run_for(3 * NOTICE_SECONDS * 1000)
    expect(notice).to_be_visible()
    page.mouse.move(5, 400)
    page.clock.run_for(NOTICE_SECONDS * 1000)
    expect(notice).to_have_count(0)

    # The focus on one of its links keeps it too.
    card.get_by_role("button", name="Add to bag").click()
    expect(notice).to_be_focused()
    page.keyboard.press("Tab")
    expect(notice.get_by_role("link", name="View bag")).to_be_focused()
    page.clock.run_for(3 * NOTICE_SECONDS * 1000)
    expect(notice).to_be_visible()
    # Focus elsewhere: it leaves, and the focus stays where it was put.
    search = page.locator("#site-search-input")
    search.focus()
    page.clock.run_for(NOTICE_SECONDS * 1000)
    expect(notice).to_have_count(0)
    expect(search).to_be_focused()


@pytest.mark.parametrize("viewport", {"desktop": DESKTOP, **PHONES})
def test_the_notice_without_javascript_hides_nothing(
    no_script_page: Callable[..., Page], viewport: str
):
    size = DESKTOP if viewport == "desktop" else PHONES[viewport]
    page = no_script_page(size)
    page.goto("/offers")
    page.locator("article.offer-card", has_text="R2 Bucket Hat").get_by_role(
        "button", name="Add to bag"
    ).click()
    expect(page).to_have_url(re.compile(r"/offers$"))
    notice = page.locator(".bag-notice")
    expect(notice).to_contain_text("R2 Bucket Hat")
    assert_bag_counter_uncovered(page)
    # Whatever was under it is still there to see and to click: the header and the page.
    for element in (
        page.locator("#site-search-input"),
        page.locator(".menu-toggle") if viewport != "desktop" else page.locator(".nav-checkout"),
        page.locator("main h1"),
    ):
        assert element.evaluate(UNCOVERED), f"the notice covers {element}"
    assert_no_overflow(page)
    assert_no_axe_violations_without_javascript(page)


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


def test_start_checkout_and_the_footer_link_open_the_checkout(page: Page, live_server: str):
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


def test_the_traffic_amount_and_its_unit_line_up(page: Page):
    add_quantity(page, "r2-bucket-hat", 1)
    page.goto("/checkout")
    amount = page.locator("#traffic_amount").bounding_box()
    unit = page.locator("#traffic_unit").bounding_box()
    assert abs(amount["height"] - unit["height"]) < 1, (amount, unit)
    assert abs(amount["y"] - unit["y"]) < 1, (amount, unit)
    expect(page.locator("#traffic_amount-hint")).not_to_contain_text("below")


@pytest.mark.parametrize("width", [768, 820, 900, 1000, 1100])
def test_the_footer_keeps_its_first_line_readable(page: Page, width: int):
    page.set_viewport_size({"width": width, "height": 800})
    page.goto("/")
    line = page.locator(".site-footer p").first.bounding_box()
    assert line["width"] >= 240, line  # about 16rem: not a column of single words
