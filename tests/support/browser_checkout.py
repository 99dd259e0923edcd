"""The checkout in Chromium: what a buyer types into it, filled in without JavaScript, the
bag filled from an offer's page and the form sent as a person sends it."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from playwright.sync_api import Locator, Page, Response, expect

ORDER_PAGE = re.compile(r"/orders/EG-[A-Z0-9]{4}-[A-Z0-9]{4}\?key=[0-9a-f]{32}$")
EMPTY_BAG = "Your bag is empty. Add a review to check out."


@dataclass(frozen=True)
class Buyer:
    """What one test types into the checkout; every test has its own."""

    name: str
    email: str
    company: str
    role: str
    hosting: str  # the option's label
    traffic: str
    unit: str  # the option's label
    stateful: str
    files: str
    compliance: tuple[str, ...]
    compliance_notes: str
    cloudflare: tuple[str, ...]
    notes: str
    billing_name: str  # asked when the order is paid by invoice
    billing_address: str

    @classmethod
    def make(cls, **changes: object) -> Buyer:
        token = uuid.uuid4().hex[:8]
        values: dict[str, object] = {
            "name": f"Grace Hopper {token}",
            "email": f"grace-{token}@example.com",
            "company": f"Compiler Works {token}",
            "role": "Head of platform",
            "hosting": "Google Cloud",
            "traffic": "1,200",
            "unit": "requests per month",
            "stateful": f"Carts in Durable Objects {token}\nSessions → KV, 30 days",
            "files": "Invoices as PDF, up to 5 MB; only the buyer reads them.",
            "compliance": ("GDPR",),
            "compliance_notes": "Data stays in the EU.",
            "cloudflare": ("Workers", "R2"),
            "notes": f"Call on Tuesdays {token}.",
            "billing_name": f"Compiler Works {token} GmbH",
            "billing_address": "Hafenstraße 1\n10115 Berlin\nGermany",
        }
        values.update(changes)
        return cls(**values)  # type: ignore[arg-type]


INVOICE_FIELDS = ("billing_name", "billing_address")
TEXT_FIELDS = {
    "name": "Name (required)",
    "email": "Email (required)",
    "company": "Company (optional)",
    "role": "Role (optional)",
    "stateful": "Stateful workflows (optional)",
    "files": "File handling (optional)",
    "compliance_notes": "More about compliance (optional)",
}


def fill_without_javascript(page: Page, buyer: Buyer, skip: tuple[str, ...] = ()) -> None:
    """Fill the form at once, as where no script runs; ``skip`` leaves fields empty."""
    for field, label in TEXT_FIELDS.items():
        if field not in skip:
            page.get_by_label(label, exact=True).fill(getattr(buyer, field))
    page.get_by_label("Current hosting").select_option(label=buyer.hosting)
    if "traffic_amount" not in skip:
        page.get_by_label("Expected traffic").fill(buyer.traffic)
    page.get_by_label("Unit (required)", exact=True).select_option(label=buyer.unit)
    for label in buyer.compliance:
        page.locator("#compliance-field").get_by_label(label, exact=True).check()
    for label in buyer.cloudflare:
        page.locator("#cloudflare-field").get_by_label(label, exact=True).check()
    page.locator("#notes").fill(buyer.notes)
    if page.locator("#billing_name").count():
        for field in INVOICE_FIELDS:
            if field not in skip:
                page.locator(f"#{field}").fill(getattr(buyer, field))


def bag_count(page: Page) -> Locator:
    """The header's bag counter."""
    return page.locator("#bag-counter .count")


def add_to_bag(page: Page, slug: str, title: str) -> None:
    """From the offer's page, with the button, like a person."""
    page.goto(f"/offers/{slug}")
    before = int(bag_count(page).inner_text())
    page.get_by_role("button", name="Add to bag").click()
    expect(bag_count(page)).to_have_text(str(before + 1))
    # The notice (it covers a corner of the header) is closed as a person closes it.
    notice = page.locator(".bag-notice")
    expect(notice).to_contain_text(title)
    if page.evaluate("document.documentElement.classList.contains('js')"):
        expect(page.locator("#status")).to_contain_text(f"Added {title} to your bag")
        expect(notice).to_be_focused()
        page.keyboard.press("Escape")
    else:
        notice.get_by_role("link", name="Close the notification").click()
    expect(notice).to_have_count(0)


def submit(page: Page, button: str = "Place order") -> Response:
    """Click the form's button and wait for the answer to its POST."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url.endswith("/checkout")
    ) as answer:
        page.get_by_role("button", name=button).click()
    page.wait_for_load_state("load")
    return answer.value
