"""The checkout through the Flask test client: its page's hidden fields, the draft, and
orders placed as a buyer places them."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.support.catalogue import HAT
from tests.support.forms import csrf_token, csrf_token_of
from tests.support.shopper import HX, Shopper

# Every field of the checkout filled in, in invoice mode (the page's hidden fields apart);
# the tests check these values back on orders, pages and mail.
GOOD = {
    "name": "Grace Hopper",
    "email": "Grace@Example.com",
    "company": "Compilers Ltd",
    "role": "CTO",
    "hosting": "aws",
    "hosting_other": "",
    "traffic_amount": "2,500",
    "traffic_unit": "per_second",
    "stateful": "Carts and\nlive cursors",
    "files": "Uploads up to 2 GB",
    "compliance": ["gdpr", "soc2"],
    "compliance_notes": "EU only",
    "cloudflare": ["workers", "r2"],
    "notes": "Call after 3pm",
    "billing_name": "Compilers Ltd",
    "billing_address": "1 Harbour Street\n10115 Berlin\nGermany",
    "vat_id": "de 136 695 976",
    "po_number": "PO-2026-17",
}


def checkout_fields(html: str) -> dict[str, str]:
    """The checkout page's hidden ``checkout_token`` and ``bag_fingerprint``."""
    return {
        name: re.search(rf'name="{name}" type="hidden" value="([^"]*)"', html)[1]
        for name in ("checkout_token", "bag_fingerprint")
    }


def page_form(html: str) -> dict:
    """The hidden fields of the checkout page, with its CSRF token."""
    return {**checkout_fields(html), "csrf_token": csrf_token(html)}


def checkout_page(client: FlaskClient) -> tuple[str, dict]:
    """The checkout page (it must be shown, not redirected) and its hidden fields."""
    response = client.get("/checkout")
    assert response.status_code == 200, response.headers.get("Location")
    html = response.get_data(as_text=True)
    return html, page_form(html)


def place(client: FlaskClient, hidden: dict, **changes):
    """Send the checkout form: ``GOOD`` with the page's ``hidden`` fields and ``changes``
    (a change to None leaves the field out)."""
    data = {**GOOD, **hidden, **changes}
    return client.post("/checkout", data={k: v for k, v in data.items() if v is not None})


def new_order(client: FlaskClient, **changes):
    """Put a hat in the bag and send the checkout form (see ``place``); the answer."""
    Shopper(client).add(HAT)
    _, hidden = checkout_page(client)
    return place(client, hidden, **changes)


def send_field(client: FlaskClient, field: str, value, route: str = "/checkout/draft"):
    """Send one field of the checkout as its page does while it is typed (htmx), to the
    draft or, with ``route="/checkout/validate"``, to the check in place."""
    token = csrf_token_of(client, "/bag")
    data = {"_field": field, field: value}
    return client.post(route, data=data, headers={**HX, "X-CSRFToken": token})
