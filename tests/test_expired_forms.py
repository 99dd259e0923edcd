"""Forms sent with a token of a session that is gone (it ended, cookies were cleared, the
person signed in or out in another tab): nothing is done, and nothing typed is lost."""

from __future__ import annotations

import json
import re

from tests.support.catalogue import HAT
from tests.support.checkout import GOOD, page_form
from tests.support.orders import orders
from tests.support.pagetext import page_text
from tests.support.shopper import HX, Shopper

SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


def hidden_inputs(html: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html):
        found.setdefault(name, []).append(value)
    return found


def test_place_order_after_the_session_ended_keeps_everything_and_places_in_one_click(app, client):
    Shopper(client).add(HAT, quantity="2")
    html = client.get("/checkout").get_data(as_text=True)
    hidden = {**page_form(html), "bag_line": hidden_inputs(html)["bag_line"]}
    client.delete_cookie("shop_session")  # the session ended meanwhile
    typed = {**GOOD, "notes": "Mornings are best", "company": "Compilers & Co"}
    response = client.post("/checkout", data={**typed, **hidden}, headers=SAME_ORIGIN)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    text = page_text(page)
    assert "Your session had ended, so the order was not placed yet" in text
    for value in ("Grace Hopper", "Grace@Example.com", "Compilers &amp; Co", "Mornings are best"):
        assert value in page, value
    assert "R2 Bucket Hat" in text and "× 2" in text  # the bag, filled again
    assert orders(app) == []
    # One press of the one button places the order.
    again = {**page_form(page), "bag_line": hidden_inputs(page)["bag_line"]}
    assert again["checkout_token"] == hidden["checkout_token"]
    placed = client.post("/checkout", data={**typed, **again}, headers=SAME_ORIGIN)
    assert placed.status_code == 303
    [order] = orders(app)
    assert order.notes == "Mornings are best" and order.company == "Compilers & Co"
    assert [(line.slug, line.quantity) for line in order.lines] == [(HAT, 2)]


def test_without_word_of_its_origin_the_form_is_kept_but_the_bag_is_not_refilled(app, client):
    Shopper(client).add(HAT)
    html = client.get("/checkout").get_data(as_text=True)
    hidden = {**page_form(html), "bag_line": hidden_inputs(html)["bag_line"]}
    client.delete_cookie("shop_session")
    response = client.post("/checkout", data={**GOOD, **hidden})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Grace Hopper" in page and "Call after 3pm" in page
    assert "R2 Bucket Hat" not in page_text(page)


def test_an_expired_add_to_bag_is_sent_again_with_one_button(app, client):
    stale = Shopper(client)
    client.delete_cookie("shop_session")  # signed out elsewhere, or cookies cleared
    data = {"offer": HAT, "quantity": "1", "token": "x" * 20, "next": "/offers"}
    response = client.post("/bag/add", data={**data, "csrf_token": stale.csrf})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This page had expired" in page_text(page) and "Add to bag" in page
    fields = hidden_inputs(page)
    assert fields["offer"] == [HAT] and fields["next"] == ["/offers"]
    resend = {name: values[0] for name, values in fields.items()}
    assert client.post("/bag/add", data=resend).status_code == 303
    assert Shopper(client).counters() == (1, 0)


def test_an_expired_htmx_request_gets_a_fresh_token_to_send_it_again(app, client):
    stale = Shopper(client)
    client.delete_cookie("shop_session")
    data = {"offer": HAT, "quantity": "1", "token": "y" * 20, "next": "/"}
    response = client.post("/bag/add", data=data, headers={**HX, "X-CSRFToken": stale.csrf})
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#status"
    token = json.loads(response.headers["HX-Trigger"])["shop:token-renewed"]
    again = client.post("/bag/add", data=data, headers={**HX, "X-CSRFToken": token})
    assert again.status_code == 200
    assert Shopper(client).counters() == (1, 0)


def test_an_expired_draft_save_gets_a_fresh_token(app, client):
    shopper = Shopper(client)
    shopper.add(HAT)
    old = shopper.csrf
    client.delete_cookie("shop_session")
    response = client.post(
        "/checkout/draft",
        data={"_field": "notes", "notes": "typed"},
        headers={**HX, "X-CSRFToken": old},
    )
    assert response.status_code == 400
    assert "shop:token-renewed" in response.headers["HX-Trigger"]
