"""Checkout: the form and its draft, order placement and its idempotency, the price
snapshot, invoice mode, the order page and who may see it. Stripe's part is in
test_payments.py."""

from __future__ import annotations

import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select, update

from shop.catalog.models import Offer
from shop.checkout.models import DraftField
from shop.extensions import db
from shop.orders.models import Order
from tests.support.accounts import register, sign_in, sign_out
from tests.support.catalogue import HAT, KIT
from tests.support.checkout import (
    GOOD,
    checkout_page,
    new_order,
    page_form,
    place,
    send_field,
)
from tests.support.forms import csrf_token_of
from tests.support.mailbox import outbox
from tests.support.orders import orders
from tests.support.pagetext import page_text
from tests.support.shopper import HX, Shopper


@pytest.fixture
def buyer(client):
    """A visitor whose bag holds two hats and a sync kit, about to check out."""
    shopper = Shopper(client)
    shopper.add(HAT, quantity="2")
    shopper.add(KIT)
    return shopper


def test_an_empty_bag_goes_back_to_the_offers(client):
    response = client.get("/checkout")
    assert response.status_code == 303 and response.headers["Location"] == "/offers"
    assert "Your bag is empty" in page_text(client.get("/offers").get_data(as_text=True))


def test_the_page_shows_the_bag_and_every_field_with_its_limit(client, buyer):
    html, _ = checkout_page(client)
    text = page_text(html)
    assert "R2 Bucket Hat" in text and "× 2" in text and "$6,400" in text  # 2×1,800+2,800
    for label in (
        "Name", "Email", "Company (optional)", "Role (optional)", "Current hosting",
        "Expected traffic", "Stateful workflows", "File handling", "Compliance constraints",
        "Cloudflare parts already in use", "Anything else",
    ):  # fmt: skip
        assert label in text, label
    assert "Up to 2,000 characters." in text and 'maxlength="4000"' in html
    assert "Place order" in text and "an invoice follows" in text


def test_placing_an_order_in_invoice_mode(app, client, buyer):
    _, hidden = checkout_page(client)
    response = place(client, hidden)
    assert response.status_code == 303
    [order] = orders(app)
    assert response.headers["Location"].startswith(f"/orders/{order.reference}?key=")
    assert re.fullmatch(r"EG-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}", order.reference)
    assert order.status == "submitted"
    assert order.email == "grace@example.com" and order.traffic_amount == 2500
    assert order.compliance == ["gdpr", "soc2"] and order.cloudflare == ["workers", "r2"]
    assert order.stateful == "Carts and\nlive cursors"
    assert [(line.slug, line.quantity, line.unit_price_cents) for line in order.lines] == [
        (HAT, 2, 180_000),
        (KIT, 1, 280_000),
    ]
    assert order.total_cents == 640_000
    # The bag and the draft are done with; the order page says what happens next.
    assert Shopper(client).counters()[0] == 0
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert order.reference in page and "invoice follows" in page_text(page)
    assert "Carts and" in page and "GDPR, SOC 2" in page_text(page)
    # The buyer's confirmation and the shop's notification.
    assert len(outbox(app)) == 2


def test_the_same_token_twice_gives_one_order(app, client, buyer):
    _, hidden = checkout_page(client)
    first = place(client, hidden)
    second = place(client, hidden)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(orders(app)) == 1
    assert len(outbox(app)) == 2  # mail only once


def test_twenty_concurrent_posts_of_one_token_give_one_order(app, buyer):
    client = buyer.client
    _, hidden = checkout_page(client)
    cookie = client.get_cookie("shop_session").value
    data = {**GOOD, **hidden}
    barrier = threading.Barrier(20)

    def post(_):
        other = app.test_client()
        other.set_cookie("shop_session", cookie)
        barrier.wait()
        return other.post("/checkout", data=data)

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {response.status_code for response in responses} == {303}
    assert len({response.headers["Location"] for response in responses}) == 1
    assert len(orders(app)) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": ""}, "Enter your name."),
        ({"email": "nope"}, "Enter an email address like"),
        ({"hosting": ""}, "Choose where the system runs today."),
        ({"hosting": "mainframe"}, "Choose from the options shown."),
        ({"hosting": "other", "hosting_other": ""}, "Say where the system runs today."),
        ({"traffic_amount": ""}, "Enter the number of requests"),
        ({"traffic_amount": "lots"}, "Enter a whole number of requests"),
        ({"traffic_amount": "1" * 14}, "Enter a whole number of requests"),
        ({"traffic_unit": "per_fortnight"}, "Choose from the options shown."),
        ({"compliance": ["gdpr", "telepathy"]}, "Choose from the options shown."),
        ({"compliance": ["none", "gdpr"]}, "Choose None alone"),
        ({"cloudflare": ["none", "r2"]}, "Choose None yet alone"),
        ({"stateful": "x" * 2001}, "Use at most 2,000 characters."),
        ({"notes": "x" * 4001}, "Use at most 4,000 characters."),
        ({"company": "x" * 101}, "Use at most 100 characters."),
        ({"checkout_token": "short"}, "This form has expired"),
    ],
)
def test_bad_input_is_refused_with_every_value_kept(app, client, buyer, changes, message):
    _, hidden = checkout_page(client)
    response = place(client, hidden, **changes)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in page_text(html)
    assert 'class="error-summary"' in html and "autofocus" in html
    kept = {**GOOD, **changes}
    for name in ("name", "company", "role"):
        if len(kept[name]) <= 100 and kept[name]:
            assert f'value="{kept[name]}"' in html, name
    if "notes" not in changes:
        assert "Call after 3pm" in html
    for value in kept["cloudflare"]:
        if value in ("workers", "r2"):
            assert re.search(rf'value="{value}" checked', html), value
    assert orders(app) == []


def test_no_csrf_token_places_nothing(app, client, buyer):
    _, hidden = checkout_page(client)
    response = place(client, hidden, csrf_token=None)
    assert response.status_code == 400
    assert orders(app) == []


def test_a_bag_changed_since_the_page_is_shown_again(app, client, buyer):
    _, hidden = checkout_page(client)
    buyer.add(HAT)  # another tab
    response = place(client, hidden)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "Your bag changed while this page was open" in page_text(html)
    assert "× 3" in page_text(html) and 'value="Grace Hopper"' in html
    assert orders(app) == []
    # Sent again from the new page, it goes through.
    assert place(client, page_form(html)).status_code == 303


def test_a_bag_emptied_since_the_page_goes_back_to_the_offers(app, client, buyer):
    _, hidden = checkout_page(client)
    buyer.post("/bag/clear", {"next": "/bag"})
    response = place(client, hidden)
    assert response.status_code == 303 and response.headers["Location"] == "/offers"
    assert orders(app) == []


def test_changed_prices_are_shown_and_must_be_accepted(app, client, buyer):
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(price_cents=190_000))
        db.session.commit()
    html, hidden = checkout_page(client)
    assert "was $1,800, now $1,900" in page_text(html)
    response = place(client, hidden)
    assert response.status_code == 409
    assert "accept the new prices" in page_text(response.get_data(as_text=True))
    assert orders(app) == []
    response = place(client, hidden, confirm_prices="y")
    assert response.status_code == 303
    [order] = orders(app)
    assert order.lines[0].unit_price_cents == 190_000 and order.total_cents == 660_000
    # The snapshot stays when the catalogue changes again.
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(price_cents=1))
        db.session.commit()
    assert orders(app)[0].lines[0].unit_price_cents == 190_000


# ---------------------------------------------------------------- the draft


def test_the_draft_is_saved_by_field_and_restored(app, client, buyer):
    assert send_field(client, "name", "Ada").status_code == 204
    assert send_field(client, "cloudflare", ["kv", "d1"]).status_code == 204
    assert send_field(client, "notes", "Line one\nline two").status_code == 204
    html, _ = checkout_page(client)
    assert 'value="Ada"' in html and "Line one\nline two</textarea>" in html
    assert re.search(r'value="kv" checked', html) and re.search(r'value="d1" checked', html)
    # Emptying the boxes is saved too.
    send_field(client, "cloudflare", [])
    assert not re.search(r'value="kv" checked', checkout_page(client)[0])


@pytest.mark.parametrize("field", ["checkout_token", "bag_fingerprint", "", "nonsense"])
def test_the_draft_refuses_other_fields(client, buyer, field):
    response = send_field(client, field, "x")
    assert response.status_code == 400
    assert "That is not a field of the checkout." in page_text(response.get_data(as_text=True))


def test_the_draft_keeps_no_control_characters(app, client, buyer):
    assert send_field(client, "name", "Ada\x00 Lovelace\x07").status_code == 204
    assert send_field(client, "notes", "one\x00\nline two").status_code == 204
    assert send_field(client, "cloudflare", ["kv\x00"]).status_code == 204
    html, _ = checkout_page(client)
    assert 'value="Ada Lovelace"' in html and "one \nline two</textarea>" in html


def test_a_bag_emptied_since_the_page_keeps_what_was_typed(app, client, buyer):
    _, hidden = checkout_page(client)
    buyer.post("/bag/clear", {"next": "/bag"})
    place(client, hidden, notes="remember this")
    Shopper(client).add(HAT)
    assert "remember this" in checkout_page(client)[0]


def test_a_large_traffic_number_is_stored(app, client, buyer):
    _, hidden = checkout_page(client)
    assert place(client, hidden, traffic_amount="9999999999999").status_code == 303
    assert orders(app)[0].traffic_amount == 9_999_999_999_999


@pytest.mark.parametrize(
    "path",
    [
        "/orders/EG-%00",
        "/orders/EG-0000-000%00",
        "/checkout/success?session_id=cs_%00",
        "/checkout/cancel?order=EG-%00&key=x",
    ],
)
def test_odd_references_and_session_ids_are_not_found(client, path):
    assert client.get(path).status_code in {303, 404}


def test_two_fields_saved_at_once_both_stay(app, client, buyer):
    cookie = client.get_cookie("shop_session").value
    token = csrf_token_of(client, "/bag")
    fields = [("name", "Ada"), ("company", "Engines"), ("role", "Analyst"), ("files", "Punch")]
    barrier = threading.Barrier(len(fields))

    def save(pair):
        other = app.test_client()
        other.set_cookie("shop_session", cookie)
        barrier.wait()
        return other.post(
            "/checkout/draft",
            data={"_field": pair[0], pair[0]: pair[1]},
            headers={**HX, "X-CSRFToken": token},
        ).status_code

    with ThreadPoolExecutor(len(fields)) as pool:
        assert set(pool.map(save, fields)) == {204}
    html, _ = checkout_page(client)
    for _, value in fields:
        assert value in html


def test_a_field_is_validated_alone_and_answered_in_place(client, buyer):
    response = send_field(client, "email", "not an email", route="/checkout/validate")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div class="field field-invalid" id="email-field"')
    assert 'aria-invalid="true"' in html and 'aria-describedby="email-hint email-error"' in html
    assert "Enter an email address like" in html
    # Other fields are not judged: the name is empty but says nothing.
    response = send_field(client, "email", "ada@example.com", route="/checkout/validate")
    assert "field-invalid" not in response.get_data(as_text=True)


def test_the_draft_follows_the_visitor_into_their_account(app, client, buyer):
    register(client, "draft@example.com")
    sign_out(client)
    Shopper(client).add(HAT)
    send_field(client, "stateful", "Durable Objects per room")
    sign_in(client, "draft@example.com")
    html, _ = checkout_page(client)
    assert "Durable Objects per room" in html and 'value="draft@example.com"' in html


def test_placing_the_order_deletes_the_draft(app, client, buyer):
    send_field(client, "notes", "remember me")
    _, hidden = checkout_page(client)
    place(client, hidden)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DraftField)) == 0


# ---------------------------------------------------------------- who sees an order


def test_an_order_is_shown_to_its_owner_and_its_link_only(app, client, buyer):
    _, hidden = checkout_page(client)
    location = place(client, hidden).headers["Location"]
    reference = orders(app)[0].reference
    assert client.get(f"/orders/{reference}").status_code == 200  # the visit that placed it
    stranger = app.test_client()
    assert stranger.get(location).status_code == 200  # the link with its key
    for path in (
        f"/orders/{reference}",
        f"/orders/{reference}?key=" + "0" * 32,
        f"/orders/{reference}?key=",
        "/orders/EG-0000-0000",
        "/orders/" + "x" * 300,
    ):
        response = stranger.get(path)
        assert response.status_code == 404, path
        assert "Grace" not in response.get_data(as_text=True)
    response = stranger.get(location)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_signed_in_customers_see_their_orders_on_the_account_page(app, client):
    register(client, "orders@example.com")
    Shopper(client).add(HAT)
    _, hidden = checkout_page(client)
    place(client, hidden)
    [order] = orders(app)
    assert order.user_id is not None and order.owner_type == "user"
    page = client.get("/account").get_data(as_text=True)
    assert order.reference in page and "Submitted, invoice follows" in page
    assert client.get(f"/orders/{order.reference}").status_code == 200


def test_another_visitors_token_does_not_reveal_their_order(app, client, buyer):
    _, hidden = checkout_page(client)
    place(client, hidden)
    thief = Shopper(app.test_client())
    thief.add(HAT)
    _, own = checkout_page(thief.client)
    response = place(thief.client, {**own, "checkout_token": hidden["checkout_token"]})
    assert response.status_code == 409
    assert orders(app)[0].reference not in response.get_data(as_text=True)
    assert len(orders(app)) == 1


def test_orders_store_json_lists(app, client, buyer):
    _, hidden = checkout_page(client)
    place(client, hidden, compliance=["none"], cloudflare=None)
    with app.app_context():
        row = db.session.execute(select(Order.compliance_json, Order.cloudflare_json)).one()
        assert json.loads(row[0]) == ["none"] and json.loads(row[1]) == []


# ---------------------------------------------------------------- abuse of the order mail


def test_orders_are_limited_per_address_typed_and_the_429_keeps_the_form(app, client):
    app.config["RATELIMIT_ORDER_EMAIL"] = "2 per hour"
    assert [new_order(client).status_code for _ in range(2)] == [303, 303]
    refused = new_order(client, email="GRACE@example.com ", notes="Please call after 4pm")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    html = refused.get_data(as_text=True)
    assert "Too many orders in a short time" in page_text(html)
    for value in ("Grace Hopper", "Compilers Ltd", "CTO", "Please call after 4pm", "2500"):
        assert value in html, value
    assert len(orders(app)) == 2
    # Another address from the same client may still order.
    assert new_order(client, email="ada@example.com").status_code == 303


def test_orders_are_limited_per_client(app, client):
    app.config["RATELIMIT_ORDER"] = "2 per hour"
    statuses = [new_order(client, email=f"buyer{n}@example.com").status_code for n in range(3)]
    assert statuses == [303, 303, 429]
    other = app.test_client()
    Shopper(other).add(HAT)
    _, hidden = checkout_page(other)
    response = other.post(
        "/checkout",
        data={**GOOD, **hidden, "email": "buyer9@example.com"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    assert response.status_code == 303


def test_refused_forms_and_double_clicks_do_not_count(app, client):
    app.config["RATELIMIT_ORDER_EMAIL"] = "1 per hour"
    for _ in range(3):
        assert new_order(client, name="").status_code == 400
    Shopper(client).add(HAT)
    _, hidden = checkout_page(client)
    first, second = place(client, hidden), place(client, hidden)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert new_order(client).status_code == 429


def test_the_buyer_mail_opens_with_nothing_the_buyer_typed(app, client):
    forged = "Please verify your account at http://evil.example/login"
    assert new_order(client, name=forged, email="victim@example.com").status_code == 303
    messages = outbox(app)
    [buyer] = [m for m in messages if m["To"] == "victim@example.com"]
    for part in ("plain", "html"):
        body = buyer.get_body((part,)).get_content()
        assert "evil.example" not in body and "Please verify" not in body
    text = buyer.get_body(("plain",)).get_content().lstrip()
    assert text.startswith("Your order EG-")


def test_the_order_page_says_thank_you_once(app, client, buyer):
    _, hidden = checkout_page(client)
    response = place(client, hidden)
    page = page_text(client.get(response.headers["Location"]).get_data(as_text=True))
    assert page.count("Thank you") == 1
    assert "is placed" in page


def test_every_label_says_whether_its_field_is_required(client, buyer):
    html, _ = checkout_page(client)
    text = page_text(html)
    for label in ("Name", "Email", "Current hosting", "Expected traffic", "Unit"):
        assert f"{label} (required)" in text, label
    for label in (
        "Company", "Role", "Stateful workflows", "File handling", "Compliance constraints",
        "More about compliance", "Cloudflare parts already in use", "Anything else",
    ):  # fmt: skip
        assert f"{label} (optional)" in text, label
    assert "Other hosting (if you chose Other)" in text
    # Required fields are marked so (static/js/checkout.js checks them when left empty).
    assert re.search(r'<input[^>]*id="name"[^>]*required', html)
    assert not re.search(r'<input[^>]*id="company"[^>]*required', html)
