"""A visitor driving the shop through the Flask test client, as its forms would."""

from __future__ import annotations

import re
import secrets

from flask.testing import FlaskClient

from tests.support.forms import csrf_token

HX = {"HX-Request": "true"}
# A checkout form filled in as a buyer would (without the page's hidden fields).
CHECKOUT_FORM = {
    "name": "Grace Hopper",
    "email": "grace@example.com",
    "company": "Compilers Ltd",
    "role": "CTO",
    "hosting": "aws",
    "hosting_other": "",
    "traffic_amount": "2500",
    "traffic_unit": "per_second",
    "stateful": "Carts",
    "files": "",
    "compliance": ["gdpr"],
    "compliance_notes": "",
    "cloudflare": ["workers"],
    "notes": "",
    "billing_name": "Compilers Ltd",
    "billing_address": "1 Harbour Street\n10115 Berlin\nGermany",
    "vat_id": "",
    "po_number": "",
}


class Shopper:
    """Reads tokens off the pages and posts the shop's forms, with or without htmx."""

    def __init__(self, client: FlaskClient):
        self.client = client
        self.csrf = ""
        self.refresh()

    def refresh(self, path: str = "/") -> str:
        html = self.client.get(path).get_data(as_text=True)
        self.csrf = csrf_token(html)
        return html

    def post(self, path: str, data: dict, htmx: bool = False, csrf: bool = True):
        headers = dict(HX) if htmx else {}
        if csrf:
            headers["X-CSRFToken"] = self.csrf
        return self.client.post(path, data=data, headers=headers)

    def add(self, slug: str, quantity="1", htmx=False, token=None, next="/", variant="card"):
        data = {"offer": slug, "quantity": quantity, "next": next, "variant": variant}
        data["token"] = token or secrets.token_urlsafe(16)
        return self.post("/bag/add", data, htmx=htmx)

    def wish(self, slug: str, saved: bool, htmx=False, next="/"):
        data = {"offer": slug, "saved": "1" if saved else "0", "next": next}
        return self.post("/wishlist/toggle", data, htmx=htmx)

    def counters(self) -> tuple[int, int]:
        html = self.client.get("/bag/counters").get_data(as_text=True)
        bag = re.search(r'id="bag-counter"[^>]*>Bag <span class="count">(\d+)</span>', html)[1]
        wish = re.search(r'id="wishlist-counter"[^>]*>Wishlist <span class="count">(\d+)', html)[1]
        return int(bag), int(wish)

    def line_ids(self) -> dict[str, int]:
        html = self.client.get("/bag").get_data(as_text=True)
        found = re.findall(r'id="line-(\d+)".*?href="/offers/([a-z0-9-]+)"', html, re.S)
        return {slug: int(line) for line, slug in found}

    def quantities(self) -> dict[str, int]:
        """Offer slug → quantity, as the bag page shows them."""
        html = self.client.get("/bag").get_data(as_text=True)
        result = {}
        for line in re.findall(r'<li class="bag-line".*?</li>', html, re.S):
            slug = re.search(r'href="/offers/([a-z0-9-]+)"', line)[1]
            value = re.search(r'class="quantity-input"[^>]*?value="(\d+)"', line, re.S)[1]
            result[slug] = int(value)
        return result
