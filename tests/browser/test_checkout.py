"""The checkout in Chromium: the whole path, in-place validation, the draft, no JavaScript,
a double click, and Stripe Checkout against the local fake Stripe.

This module serves its own shops under gunicorn, so that it knows their databases and can
count the orders there: one in invoice mode (the default, no Stripe), and one with Stripe
configured against a ``FakeStripe`` running in the test process.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import Browser, Page, Response, expect
from sqlalchemy import create_engine, select

from shop.orders.models import Order
from tests.support.browser import (
    DESKTOP,
    MOBILE,
    assert_no_axe_violations,
    assert_no_axe_violations_without_javascript,
    assert_no_overflow,
    console_errors,
    page_factory,
)
from tests.support.browser_checkout import (
    EMPTY_BAG,
    INVOICE_FIELDS,
    ORDER_PAGE,
    TEXT_FIELDS,
    Buyer,
    add_to_bag,
    bag_count,
    fill_without_javascript,
    submit,
)
from tests.support.database import fresh_database
from tests.support.fakestripe import FakeStripe
from tests.support.live import ServerFailed, gunicorn, log_text

pytestmark = pytest.mark.browser

VIEWPORTS = {"desktop": DESKTOP, "mobile": MOBILE}
REFERENCE = re.compile(r"^EG-[A-Z0-9]{4}-[A-Z0-9]{4}$")
STRIPE_KEY = "sk_test_fake_" + "checkout0browser0tests"
WEBHOOK_SECRET = "whsec_test_" + "checkout0browser0tests"
EMAIL_ERROR = "Enter an email address like name@example.com."
TRAFFIC_ERROR = "Enter the number of requests you expect, such as 200."


# ---------------------------------------------------------------- servers


@dataclass(frozen=True)
class Shop:
    """A shop under gunicorn: its address, the URL of its database, its instance folder."""

    base_url: str
    database_url: str
    instance: Path

    def requests_served(self, method: str, path: str) -> int:
        """How many ``method path`` requests gunicorn answered (its access log)."""
        return log_text(self.instance).count(f'"{method} {path} HTTP/')


def serve(tmp_path_factory: pytest.TempPathFactory, name: str, config: str = "") -> Iterator[Shop]:
    """A shop of this module's own on a fresh database, logging each request it answers;
    ``config`` is its instance/config.py."""
    instance = tmp_path_factory.mktemp(name)
    if config:
        (instance / "config.py").write_text(config)
    with fresh_database(instance, f"_{name}") as url, ExitStack() as stack:
        try:
            with pytest.MonkeyPatch.context() as env:
                # Read by gunicorn at its start only: the access log goes to its log file.
                extra = os.environ.get("GUNICORN_CMD_ARGS", "")
                env.setenv("GUNICORN_CMD_ARGS", f"{extra} --access-logfile -".strip())
                base_url = stack.enter_context(gunicorn(url, instance, workers=2))
        except ServerFailed as error:
            pytest.fail(str(error), pytrace=False)
        yield Shop(base_url, url, instance)


@pytest.fixture(scope="module")
def invoice_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """The shop without Stripe: orders are placed and an invoice follows."""
    yield from serve(tmp_path_factory, "checkout")


@pytest.fixture(scope="module")
def live_server(invoice_shop: Shop) -> str:
    """Overrides the browser fixtures' server: ``page`` and ``new_page`` open this module's."""
    return invoice_shop.base_url


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=STRIPE_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def stripe_shop(
    tmp_path_factory: pytest.TempPathFactory, fake_stripe: FakeStripe
) -> Iterator[Shop]:
    """The shop with Stripe Checkout, talking to the fake Stripe of this test process."""
    config = (
        f"STRIPE_SECRET_KEY = {STRIPE_KEY!r}\n"
        f"STRIPE_WEBHOOK_SECRET = {WEBHOOK_SECRET!r}\n"
        f"STRIPE_API_BASE = {fake_stripe.base_url!r}\n"
        f"STRIPE_CHECKOUT_ORIGIN = {fake_stripe.base_url!r}\n"
        "STRIPE_TIMEOUT = 5\n"
    )
    yield from serve(tmp_path_factory, "checkout_stripe", config)


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Pages on any of the shops, each in a fresh context, closed after the test."""
    with page_factory(browser) as make:
        yield make


def orders_by_email(shop: Shop, email: str) -> list[tuple[str, str]]:
    """(reference, status) of the orders placed with this email, read from the database."""
    engine = create_engine(shop.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Order.reference, Order.status).where(Order.email == email)
            )
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the buyer and the form


def posted(response: Response) -> dict[str, list[str]]:
    """The form fields of the response's request."""
    return parse_qs(response.request.post_data or "", keep_blank_values=True)


def post_to(path: str, field: str, value: str | None = None) -> Callable[[Response], bool]:
    """Matches the answer to htmx's POST of ``field`` (with ``value``, when given) to ``path``."""

    def matches(response: Response) -> bool:
        if response.request.method != "POST" or not response.url.endswith(path):
            return False
        data = posted(response)
        if data.get("_field") != [field]:
            return False
        sent = [item.replace("\r\n", "\n") for item in data.get(field, [])]
        return value is None or sent == [value]

    return matches


def type_like_a_person(page: Page, field: str, text: str) -> None:
    """Click into the field, type ``text`` key by key, and wait until the draft has it
    (the debounced save answers); the focus stays in the field."""
    with page.expect_response(post_to("/checkout/draft", field, text)) as saved:
        page.locator(f"#{field}").click()
        page.keyboard.type(text, delay=5)
    assert saved.value.status == 204


def leave_with_tab(page: Page, field: str) -> None:
    """Tab out of a changed field and wait for its in-place check to answer."""
    with page.expect_response(post_to("/checkout/validate", field)) as checked:
        page.keyboard.press("Tab")
    assert checked.value.status == 200


def choose(page: Page, field: str, label: str) -> None:
    """Choose an option of a select and wait for its in-place check (which saves it)."""
    with page.expect_response(post_to("/checkout/validate", field)):
        page.locator(f"#{field}").select_option(label=label)


def tick(page: Page, group: str, label: str) -> None:
    """Click a checkbox's label and wait for the group's in-place check (which saves it)."""
    with page.expect_response(post_to("/checkout/validate", group)):
        page.locator(f"#{group}-field").get_by_label(label, exact=True).click()


def fill_with_javascript(page: Page, buyer: Buyer, skip: tuple[str, ...] = ()) -> None:
    """Fill the form as a person does, waiting for each field to be saved."""
    for field in TEXT_FIELDS:
        if field not in skip:
            type_like_a_person(page, field, getattr(buyer, field))
            leave_with_tab(page, field)
    choose(page, "hosting", buyer.hosting)
    if "traffic_amount" not in skip:
        type_like_a_person(page, "traffic_amount", buyer.traffic)
        leave_with_tab(page, "traffic_amount")
    choose(page, "traffic_unit", buyer.unit)
    for label in buyer.compliance:
        tick(page, "compliance", label)
    for label in buyer.cloudflare:
        tick(page, "cloudflare", label)
    type_like_a_person(page, "notes", buyer.notes)
    leave_with_tab(page, "notes")
    if page.locator("#billing_name").count():  # paid by invoice: its details
        for field in INVOICE_FIELDS:
            if field not in skip:
                type_like_a_person(page, field, getattr(buyer, field))
                leave_with_tab(page, field)


def checked_labels(page: Page, group: str) -> list[str]:
    return page.locator(f"#{group}-field input:checked").evaluate_all(
        "boxes => boxes.map(box => box.labels[0].textContent.trim())"
    )


def selected_label(page: Page, field: str) -> str:
    return page.locator(f"#{field}").evaluate("select => select.selectedOptions[0].label")


def assert_values_kept(page: Page, buyer: Buyer, traffic: str = "") -> None:
    """Every value of ``buyer`` is in the form as typed (text, selects, boxes, textareas)."""
    for field, label in TEXT_FIELDS.items():
        box = page.get_by_label(label, exact=True)
        expect(box).to_have_value(getattr(buyer, field))
    expect(page.get_by_label("Expected traffic")).to_have_value(traffic)
    expect(page.locator("#notes")).to_have_value(buyer.notes)
    if page.locator("#billing_name").count():
        for field in INVOICE_FIELDS:
            expect(page.locator(f"#{field}")).to_have_value(getattr(buyer, field))
    assert selected_label(page, "hosting") == buyer.hosting
    assert selected_label(page, "traffic_unit") == buyer.unit
    assert checked_labels(page, "compliance") == list(buyer.compliance)
    assert checked_labels(page, "cloudflare") == list(buyer.cloudflare)


def assert_no_field_errors(page: Page, *fields: str) -> None:
    for field in fields:
        expect(page.locator(f"#{field}-error")).to_have_count(0)
        expect(page.locator(f"#{field}")).not_to_have_attribute("aria-invalid", "true")


def assert_field_error(page: Page, field: str, message: str) -> None:
    """The field shows ``message`` under it, is marked invalid and described by it."""
    error = page.locator(f"#{field}-error")
    expect(error).to_have_text(message)
    expect(error).to_be_visible()
    control = page.locator(f"#{field}")
    expect(control).to_have_attribute("aria-invalid", "true")
    described = (control.get_attribute("aria-describedby") or "").split()
    assert f"{field}-error" in described, described
    for ref in described:  # every id it names is there
        expect(page.locator(f"#{ref}")).to_have_count(1)
    # Error messages follow the field in reading order.
    assert control.evaluate(
        "(el, id) => !!(el.compareDocumentPosition(document.getElementById(id)) & 4)",
        f"{field}-error",
    )


# ---------------------------------------------------------------- the shop's pages


def open_checkout_from_header(page: Page) -> None:
    """Follow the header's Checkout link (inside the menu on a phone)."""
    toggle = page.locator(".menu-toggle")
    if toggle.is_visible():
        toggle.click()
        expect(page.locator("#site-menu")).to_be_visible()
    page.locator("#site-menu").get_by_role("link", name="Checkout").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator("h1")).to_have_text("Bring the traffic, state, and deployment constraints.")


def assert_order_page(page: Page, buyer: Buyer, status: str) -> str:
    """The page is the buyer's order page; returns the order's reference."""
    expect(page).to_have_url(ORDER_PAGE)
    reference = page.locator("h1").inner_text()
    assert REFERENCE.match(reference), reference
    expect(page).to_have_title(f"Order {reference} · Edge goods")
    expect(page.locator(".order-status strong")).to_have_text(status)
    context = page.locator(".order-context")
    expect(context).to_contain_text(buyer.name)
    expect(context).to_contain_text(buyer.email)
    expect(context).to_contain_text(buyer.hosting)
    expect(context).to_contain_text(f"{buyer.traffic} {buyer.unit}")
    expect(context).to_contain_text(", ".join(buyer.cloudflare))
    return reference


def assert_clean_console(page: Page, answered_400: str | None = None) -> None:
    """No console errors, exceptions or CSP violations; ``answered_400``: a page address
    whose own 400 answer Chromium logged (a form sent back with its errors)."""
    errors = console_errors(page)
    if answered_400:
        errors = [
            e for e in errors if not ("status of 400" in e and e.endswith(f"{answered_400})"))
        ]
    assert errors == [], "\n".join(errors)


# ---------------------------------------------------------------- 1. the whole path


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_the_whole_path_with_javascript(
    new_page: Callable[..., Page], invoice_shop: Shop, viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    buyer = Buyer.make(email=f"{uuid.uuid4().hex[:10]}@example.com")
    add_to_bag(page, "durable-object-denim", "Durable Object Denim")
    open_checkout_from_header(page)
    expect(page.locator(".checkout-summary")).to_contain_text("Durable Object Denim")
    expect(page.get_by_role("button", name="Place order")).to_be_visible()
    assert_no_overflow(page)
    assert_no_axe_violations(page)

    # Name, then a malformed email: no error while it is typed, even once the draft has it.
    type_like_a_person(page, "name", buyer.name)
    leave_with_tab(page, "name")
    expect(page.locator("#email")).to_be_focused()
    malformed = buyer.email.replace("@", ".at.")
    type_like_a_person(page, "email", malformed)
    expect(page.locator("#email")).to_be_focused()
    assert_no_field_errors(page, "name", "email")
    # Left: now it is checked, and the message shows under the field.
    leave_with_tab(page, "email")
    assert_field_error(page, "email", EMAIL_ERROR)
    expect(page.locator("#email")).to_have_value(malformed)
    # The swap did not take the focus away from where the Tab put it.
    expect(page.locator("#company")).to_be_focused()

    # The rest, with the keyboard and the mouse; "Expected traffic" stays untouched.
    for field in ("company", "role"):
        type_like_a_person(page, field, getattr(buyer, field))
        leave_with_tab(page, field)
    choose(page, "hosting", buyer.hosting)
    choose(page, "traffic_unit", buyer.unit)
    for field in ("stateful", "files"):
        type_like_a_person(page, field, getattr(buyer, field))
        leave_with_tab(page, field)
    for label in buyer.compliance:
        tick(page, "compliance", label)
    type_like_a_person(page, "compliance_notes", buyer.compliance_notes)
    leave_with_tab(page, "compliance_notes")
    for label in buyer.cloudflare:
        tick(page, "cloudflare", label)
    type_like_a_person(page, "notes", buyer.notes)
    leave_with_tab(page, "notes")
    for field in INVOICE_FIELDS:  # paid by invoice: its details
        type_like_a_person(page, field, getattr(buyer, field))
        leave_with_tab(page, field)
    page.wait_for_load_state("networkidle")
    # Only the email, changed and left, says it is wrong; untouched fields say nothing.
    expect(page.locator(".field-error")).to_have_count(1)
    assert_no_field_errors(page, "traffic_amount", "hosting_other", "hosting", "name")
    expect(page.locator("#error-summary")).to_have_count(0)
    assert_no_axe_violations(page)

    # Send it: the page comes back with the summary focused and every value kept.
    answer = submit(page)
    assert answer.status == 400
    expect(page).to_have_title("Error: Checkout · Edge goods")
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    expect(summary.get_by_role("link")).to_have_text([EMAIL_ERROR, TRAFFIC_ERROR])
    assert_field_error(page, "email", EMAIL_ERROR)
    assert_field_error(page, "traffic_amount", TRAFFIC_ERROR)
    assert_values_kept(page, replace(buyer, email=malformed))
    assert_no_overflow(page)
    assert_no_axe_violations(page)

    # Fix them: the summary's link leads to the field.
    summary.get_by_role("link", name=EMAIL_ERROR).click()
    expect(page.locator("#email")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(buyer.email, delay=5)
    leave_with_tab(page, "email")
    assert_no_field_errors(page, "email")
    summary.get_by_role("link", name=TRAFFIC_ERROR).click()
    expect(page.locator("#traffic_amount")).to_be_focused()
    page.keyboard.type(buyer.traffic, delay=5)
    leave_with_tab(page, "traffic_amount")
    assert_no_field_errors(page, "traffic_amount")

    answer = submit(page)
    assert answer.status == 303
    reference = assert_order_page(page, buyer, "Submitted, invoice follows")
    expect(page.locator(".flash-success")).to_contain_text(f"Order {reference} is placed")
    expect(page.locator(".order-page")).to_contain_text(
        f"An invoice follows by email to {buyer.email}"
    )
    # What happens next: the scoping call, booked from here.
    expect(page.get_by_role("link", name="Book your scoping call")).to_be_visible()
    expect(bag_count(page)).to_have_text("0")
    assert_no_overflow(page)
    assert_no_axe_violations(page)
    assert orders_by_email(invoice_shop, buyer.email) == [(reference, "submitted")]
    assert_clean_console(page, answered_400=f"{invoice_shop.base_url}/checkout")


# ---------------------------------------------------------------- 2. the draft


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_the_draft_keeps_what_was_typed_across_reloads_and_pages(
    new_page: Callable[..., Page], viewport: str
):
    page = new_page(VIEWPORTS[viewport])
    buyer = Buyer.make(hosting="Fly.io", cloudflare=("Durable Objects", "Queues"))
    add_to_bag(page, "realtime-websocket-sync-kit", "Realtime WebSocket Sync Kit")
    open_checkout_from_header(page)

    # Typed and left as they are (each save answered), ticked, chosen.
    type_like_a_person(page, "name", buyer.name)
    type_like_a_person(page, "stateful", buyer.stateful)
    for label in buyer.cloudflare:
        tick(page, "cloudflare", label)
    choose(page, "hosting", buyer.hosting)
    page.wait_for_load_state("networkidle")

    def assert_draft() -> None:
        expect(page.get_by_label("Name (required)", exact=True)).to_have_value(buyer.name)
        expect(page.get_by_label("Stateful workflows")).to_have_value(buyer.stateful)
        assert checked_labels(page, "cloudflare") == list(buyer.cloudflare)
        assert selected_label(page, "hosting") == buyer.hosting
        # The rest is as it was, and nothing shows as wrong before it is sent.
        expect(page.get_by_label("Email (required)", exact=True)).to_have_value("")
        assert checked_labels(page, "compliance") == []
        assert selected_label(page, "traffic_unit") == "requests per second"
        expect(page.locator(".field-error")).to_have_count(0)
        expect(page.locator("[aria-invalid=true]")).to_have_count(0)
        expect(page.locator("#error-summary")).to_have_count(0)

    page.reload()
    assert_draft()

    page.get_by_role("link", name="Change the bag").click()
    expect(page).to_have_url(re.compile(r"/bag$"))
    page.goto("/offers")
    open_checkout_from_header(page)
    assert_draft()

    # And back through the history, too.
    page.go_back()
    expect(page).to_have_url(re.compile(r"/offers$"))
    page.go_forward()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    assert_draft()
    assert_no_axe_violations(page)
    assert_clean_console(page)


def test_a_draft_field_saved_while_typing_survives_without_leaving_it(page: Page):
    """The debounced save alone (no change event, focus still in the field) keeps it."""
    buyer = Buyer.make()
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    page.goto("/checkout")
    type_like_a_person(page, "notes", buyer.notes)
    expect(page.locator("#notes")).to_be_focused()
    page.reload()
    expect(page.locator("#notes")).to_have_value(buyer.notes)


def draft_on_the_server(page: Page, field: str, expected: str, timeout: float = 5) -> None:
    """A new tab (no sessionStorage of the first) shows ``expected`` in ``field``: the
    server's draft holds it."""
    other = page.context.new_page()
    deadline = time.monotonic() + timeout
    try:
        while True:
            other.goto("/checkout")
            value = other.locator(f"#{field}").input_value()
            if value == expected or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert value == expected
    finally:
        other.close()


@pytest.mark.parametrize("leave", ["reload", "link"])
def test_what_was_typed_just_before_leaving_is_kept(page: Page, leave: str):
    """Keys typed less than the save's 600 ms before a reload or a link are not lost."""
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    page.goto("/checkout")
    page.locator("#notes").click()
    page.keyboard.type("Typed just before leaving", delay=5)
    page.locator("#company").click()
    page.keyboard.type("Acme", delay=5)
    if leave == "reload":
        page.reload()
    else:
        page.get_by_role("link", name="Change the bag").click()
        expect(page).to_have_url(re.compile(r"/bag$"))
        page.go_back()
    expect(page.locator("#notes")).to_have_value("Typed just before leaving")
    expect(page.locator("#company")).to_have_value("Acme")
    draft_on_the_server(page, "notes", "Typed just before leaving")
    draft_on_the_server(page, "company", "Acme")
    assert_clean_console(page)


def test_tabbing_past_an_empty_required_field_says_so(page: Page):
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    page.goto("/checkout")
    page.locator("#name").click()
    with page.expect_response(post_to("/checkout/validate", "name")):
        page.keyboard.press("Tab")
    expect(page.locator("#name-error")).to_have_text("Enter your name.")
    expect(page.locator("#name")).to_have_attribute("aria-invalid", "true")
    # An optional field left empty says nothing.
    page.locator("#company").click()
    page.keyboard.press("Tab")
    expect(page.locator("#company-error")).to_have_count(0)
    assert_no_axe_violations(page)


def test_place_order_after_the_session_ended_loses_nothing(page: Page, invoice_shop: Shop):
    buyer = Buyer.make()
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    open_checkout_from_header(page)
    fill_with_javascript(page, buyer)
    page.wait_for_load_state("networkidle")
    page.context.clear_cookies()  # the session ended (or the cookies were cleared)
    answer = submit(page)
    assert answer.status == 400
    expect(page.locator("#error-summary")).to_contain_text("Your session had ended")
    assert_values_kept(page, buyer, traffic=buyer.traffic.replace(",", ""))
    expect(page.locator(".summary-lines li")).to_have_count(1)
    assert_no_axe_violations(page)
    answer = submit(page)
    assert answer.status == 303
    assert_order_page(page, buyer, "Submitted, invoice follows")
    assert len(orders_by_email(invoice_shop, buyer.email)) == 1


# ---------------------------------------------------------------- 3. without JavaScript


def test_the_whole_path_without_javascript(open_page: Callable[..., Page], invoice_shop: Shop):
    page = open_page(invoice_shop.base_url, javascript=False)
    buyer = Buyer.make(
        hosting="Other", compliance=("HIPAA", "SOC 2"), cloudflare=("Pages", "D1", "KV")
    )
    add_to_bag(page, "five-me-flare-jacket", "Cloudflare Five-Me-Flare Jacket")
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    open_checkout_from_header(page)
    expect(page.locator(".summary-lines li")).to_have_count(2)

    malformed = "grace at example dot com"
    fill_without_javascript(page, replace(buyer, email=malformed), skip=("traffic_amount",))
    answer = submit(page)
    assert answer.status == 400
    expect(page).to_have_title("Error: Checkout · Edge goods")
    summary = page.locator("#error-summary")
    expect(summary).to_have_attribute("role", "alert")
    # "Other" hosting needs a word about it, too.
    expect(summary.get_by_role("link")).to_have_text(
        [EMAIL_ERROR, "Say where the system runs today.", TRAFFIC_ERROR]
    )
    assert_field_error(page, "email", EMAIL_ERROR)
    assert_field_error(page, "hosting_other", "Say where the system runs today.")
    assert_field_error(page, "traffic_amount", TRAFFIC_ERROR)
    assert_values_kept(page, replace(buyer, email=malformed))
    assert_no_axe_violations_without_javascript(page)
    page.set_viewport_size(MOBILE)
    assert_no_overflow(page)
    assert_no_axe_violations_without_javascript(page)
    page.set_viewport_size(DESKTOP)

    page.get_by_label("Email (required)", exact=True).fill(buyer.email)
    page.get_by_label("Other hosting").fill("A rack in the basement")
    page.get_by_label("Expected traffic").fill("40")
    answer = submit(page)
    assert answer.status == 303
    buyer = replace(buyer, hosting="Other: A rack in the basement", traffic="40")
    reference = assert_order_page(page, buyer, "Submitted, invoice follows")
    expect(page.locator(".flash-success")).to_contain_text(f"Order {reference} is placed")
    expect(bag_count(page)).to_have_text("0")
    assert orders_by_email(invoice_shop, buyer.email) == [(reference, "submitted")]
    for viewport in (MOBILE, {"width": 320, "height": 640}):
        page.set_viewport_size(viewport)
        assert_no_overflow(page)

    # The bag is empty now: the checkout sends the visitor to the offers.
    page.goto("/checkout")
    expect(page).to_have_url(re.compile(r"/offers$"))
    expect(page.locator(".flash")).to_have_text(EMPTY_BAG)


# ---------------------------------------------------------------- 4. a double click


def test_a_double_click_on_place_order_places_one_order(page: Page, invoice_shop: Shop):
    buyer = Buyer.make(cloudflare=("Images", "Stream"))
    add_to_bag(page, "durable-object-denim", "Durable Object Denim")
    open_checkout_from_header(page)
    fill_with_javascript(page, buyer)
    page.wait_for_load_state("networkidle")
    served = invoice_shop.requests_served("POST", "/checkout")

    # A slow connection (answers arrive 400 ms late), where double clicks happen: the second
    # click comes once the first one's order is on its way, while the page is still shown.
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 400, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    button = page.get_by_role("button", name="Place order")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/checkout")):
        page.mouse.click(x, y)
    page.mouse.click(x, y)
    expect(page).to_have_url(ORDER_PAGE)
    network.send("Network.disable")
    network.detach()
    page.wait_for_load_state("networkidle")

    reference = assert_order_page(page, buyer, "Submitted, invoice follows")
    expect(page.locator(".order-page")).to_contain_text(
        f"An invoice follows by email to {buyer.email}"
    )
    # The server got the form twice, and placed one order.
    deadline = time.monotonic() + 5
    while invoice_shop.requests_served("POST", "/checkout") < served + 2:
        assert time.monotonic() < deadline, "the two clicks did not send the form twice"
        time.sleep(0.1)
    assert orders_by_email(invoice_shop, buyer.email) == [(reference, "submitted")]
    expect(bag_count(page)).to_have_text("0")
    page.goto("/checkout")
    expect(page).to_have_url(re.compile(r"/offers$"))
    expect(page.locator(".flash")).to_have_text(EMPTY_BAG)
    assert_clean_console(page)


# ---------------------------------------------------------------- 5. Stripe Checkout


def stripe_session_for(fake: FakeStripe, email: str, timeout: float = 10) -> dict:
    """The Checkout Session the shop created for ``email`` (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [s for s in list(fake.sessions.values()) if s["customer_email"] == email]
        if found:
            assert len(found) == 1, found
            return fake.session(found[0]["id"])
        assert time.monotonic() < deadline, f"no Checkout Session for {email}"
        time.sleep(0.05)


def continue_to_payment(page: Page, fake: FakeStripe, buyer: Buyer) -> dict:
    """Send the filled form with "Continue to payment": the shop places the order and starts
    a Checkout Session for it (and answers 303 to its page). Returns that session."""
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/checkout")):
        page.get_by_role("button", name="Continue to payment").click()
    session = stripe_session_for(fake, buyer.email)
    assert session["url"].startswith(f"{fake.base_url}/c/pay/cs_test_")
    assert session["success_url"].endswith("/checkout/success?session_id={CHECKOUT_SESSION_ID}")
    return session


def open_stripe_checkout(page: Page, session: dict) -> None:
    """The browser followed the shop's 303 to the fake's Checkout page of ``session`` (the
    Content Security Policy's form-action allows Stripe Checkout's origin)."""
    expect(page).to_have_url(session["url"], timeout=5000)
    expect(page).to_have_title("Fake Checkout")
    expect(page.get_by_role("button", name="Pay")).to_be_visible()


def test_continue_to_payment_opens_stripe_checkout(
    open_page: Callable[..., Page], stripe_shop: Shop, fake_stripe: FakeStripe
):
    page = open_page(stripe_shop.base_url)
    buyer = Buyer.make()
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    open_checkout_from_header(page)
    fill_with_javascript(page, buyer)
    session = continue_to_payment(page, fake_stripe, buyer)
    expect(page).to_have_url(session["url"], timeout=5000)
    assert console_errors(page) == []


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=list(VIEWPORTS))
def test_paying_on_stripe_checkout_shows_the_paid_order(
    open_page: Callable[..., Page], stripe_shop: Shop, fake_stripe: FakeStripe, viewport: str
):
    page = open_page(stripe_shop.base_url, VIEWPORTS[viewport])
    buyer = Buyer.make(hosting="Vercel", cloudflare=("Workers", "KV"))
    add_to_bag(page, "realtime-websocket-sync-kit", "Realtime WebSocket Sync Kit")
    open_checkout_from_header(page)
    expect(page.locator(".checkout-submit .note").first).to_have_text(
        "Payment is taken by Stripe Checkout on the next page."
    )
    assert_no_axe_violations(page)
    fill_with_javascript(page, buyer)
    session = continue_to_payment(page, fake_stripe, buyer)
    reference = session["client_reference_id"]
    assert orders_by_email(stripe_shop, buyer.email) == [(reference, "pending_payment")]

    open_stripe_checkout(page, session)
    expect(page.locator("h1")).to_have_text("Pay USD 2,800.00")
    page.get_by_role("button", name="Pay").click()
    # Back on the shop: the success page asked Stripe, and sent the buyer to the order.
    expect(page).to_have_url(ORDER_PAGE)
    assert page.locator("h1").inner_text() == reference
    assert_order_page(page, buyer, "Paid")
    expect(page.locator(".flash-success")).to_have_text("Payment received.")
    expect(page.locator(".order-page")).to_contain_text("Paid. Thank you.")
    expect(page.get_by_role("link", name="Book your scoping call")).to_be_visible()
    expect(bag_count(page)).to_have_text("0")
    assert orders_by_email(stripe_shop, buyer.email) == [(reference, "paid")]
    assert_no_overflow(page)
    assert_no_axe_violations(page)
    assert console_errors(page) == []
    page.goto("/checkout")
    expect(page).to_have_url(re.compile(r"/offers$"))


def test_cancelling_stripe_checkout_comes_back_with_everything_kept(
    open_page: Callable[..., Page], stripe_shop: Shop, fake_stripe: FakeStripe
):
    page = open_page(stripe_shop.base_url)
    buyer = Buyer.make(hosting="Netlify", compliance=("PCI DSS",), cloudflare=("Pages",))
    add_to_bag(page, "durable-object-denim", "Durable Object Denim")
    open_checkout_from_header(page)
    fill_with_javascript(page, buyer)
    session = continue_to_payment(page, fake_stripe, buyer)
    reference = session["client_reference_id"]

    open_stripe_checkout(page, session)
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".flash-info").first).to_have_text(
        f"Payment cancelled. Your order {reference} is saved and waits for payment; your bag "
        "and details are kept."
    )
    pending = page.locator(".checkout-page .flash-info")
    expect(pending).to_contain_text(f"Order {reference} is waiting for payment.")
    expect(pending.get_by_role("link", name=reference)).to_be_visible()
    expect(bag_count(page)).to_have_text("1")
    # The number comes back as the shop reads it, without its thousands separator.
    assert_values_kept(page, buyer, traffic=buyer.traffic.replace(",", ""))
    expect(page.get_by_role("button", name="Continue to payment")).to_be_visible()
    assert orders_by_email(stripe_shop, buyer.email) == [(reference, "pending_payment")]
    assert_no_axe_violations(page)
    assert console_errors(page) == []


def test_cancelling_stripe_checkout_without_javascript_keeps_the_details(
    open_page: Callable[..., Page], stripe_shop: Shop, fake_stripe: FakeStripe
):
    page = open_page(stripe_shop.base_url, javascript=False)
    buyer = Buyer.make(hosting="Heroku", cloudflare=("R2",))
    add_to_bag(page, "r2-bucket-hat", "R2 Bucket Hat")
    open_checkout_from_header(page)
    fill_without_javascript(page, buyer)
    session = continue_to_payment(page, fake_stripe, buyer)
    reference = session["client_reference_id"]
    open_stripe_checkout(page, session)
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.locator(".flash-info").first).to_contain_text(
        f"Your order {reference} is saved and waits for payment; your bag and details are kept."
    )
    assert_values_kept(page, buyer, traffic=buyer.traffic.replace(",", ""))
