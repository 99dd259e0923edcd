"""Bag and wishlist: services, views with and without htmx, bad input, housekeeping."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from shop.bag import services
from shop.bag.models import BagLine, WishlistItem
from shop.bag.services import BagError
from shop.catalog.models import Offer
from shop.clock import moved, now
from shop.domain import Owner
from shop.extensions import db
from shop.sessions import SessionRecord
from tests.support.catalogue import DENIM, HAT, JACKET
from tests.support.shopper import Shopper

ALICE, BOB = Owner.visit("a" * 64), Owner.visit("b" * 64)


@pytest.fixture
def shopper(client):
    return Shopper(client)


def table_counts(app):
    with app.app_context():
        result = (
            db.session.scalar(select(func.count()).select_from(BagLine)),
            db.session.scalar(select(func.coalesce(func.sum(BagLine.quantity), 0))),
            db.session.scalar(select(func.count()).select_from(WishlistItem)),
        )
        db.session.rollback()
        return result


# ---------------------------------------------------------------- services


def test_add_is_one_atomic_upsert_and_clamps_at_ten(app):
    with app.app_context():
        first = services.add_to_bag(ALICE, HAT, 3, "t" * 16)
        assert (first.quantity, first.clamped) == (3, False)
        second = services.add_to_bag(ALICE, HAT, 9, "u" * 16)
        assert (second.quantity, second.clamped) == (10, True)
        third = services.add_to_bag(ALICE, HAT, 7, "v" * 16)
        assert (third.quantity, third.clamped) == (10, True)
        assert len(services.bag_lines(ALICE)) == 1
        assert services.counts(ALICE).bag_quantity == 10


def test_add_remembers_the_price_when_first_added(app):
    with app.app_context():
        services.add_to_bag(ALICE, HAT, 1, "t" * 16)
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(price_cents=199_900))
        db.session.commit()
        services.add_to_bag(ALICE, HAT, 1, "u" * 16)
        (line,) = services.bag_lines(ALICE)
        assert line.unit_price_cents == 180_000
        assert line.price_changed
        assert line.line_total_cents == 360_000


def test_unknown_or_inactive_offer_cannot_be_added(app):
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.slug == DENIM).values(active=False))
        db.session.commit()
        for slug in ("nope", DENIM, "", "../x"):
            with pytest.raises(BagError) as error:
                services.add_to_bag(ALICE, slug, 1, "t" * 16)
            assert error.value.kind == "missing"
        assert services.counts(ALICE).bag_quantity == 0


def test_a_token_sent_again_at_once_changes_nothing_but_later_adds(app):
    """The same form twice within moments is one click (a double click, a retry); the same
    page's button pressed again later (Back, a restored tab) is a new add."""
    with app.app_context():
        services.add_to_bag(ALICE, HAT, 1, "t" * 16)
        again = services.add_to_bag(ALICE, HAT, 1, "t" * 16)
        assert again.repeated and again.quantity == 1
        assert services.counts(ALICE).bag_quantity == 1
        with moved(services.REPEAT_WINDOW + timedelta(seconds=1)):
            assert not services.add_to_bag(ALICE, HAT, 1, "t" * 16).repeated
        assert services.counts(ALICE).bag_quantity == 2


def test_owners_never_see_or_change_each_others_lines(app):
    with app.app_context():
        services.add_to_bag(ALICE, HAT, 2, "t" * 16)
        (line,) = services.bag_lines(ALICE)
        line_id = line.id
        for change in (
            lambda: services.set_quantity(BOB, line_id, 5),
            lambda: services.remove_line(BOB, line_id),
        ):
            with pytest.raises(BagError) as error:
                change()
            assert error.value.kind == "missing"
        assert services.clear_bag(BOB) == 0
        assert services.bag_lines(BOB) == []
        assert services.counts(ALICE).bag_quantity == 2


def test_wishlist_set_is_idempotent_and_move_goes_to_the_bag(app):
    with app.app_context():
        services.set_wishlist(ALICE, DENIM, True)
        services.set_wishlist(ALICE, DENIM, True)
        assert services.counts(ALICE).wishlist_offers == 1
        services.set_wishlist(ALICE, DENIM, False)
        services.set_wishlist(ALICE, DENIM, False)
        assert services.counts(ALICE).wishlist_offers == 0
        services.set_wishlist(ALICE, DENIM, True)
        services.add_to_bag(ALICE, DENIM, 2, "t" * 16)
        moved = services.move_to_bag(ALICE, DENIM, "u" * 16)
        assert moved.quantity == 3
        assert services.counts(ALICE) == services.Counts(bag_quantity=3, wishlist_offers=0)
        with pytest.raises(BagError) as error:
            services.move_to_bag(ALICE, DENIM, "v" * 16)
        assert error.value.kind == "missing"
        assert services.counts(ALICE).bag_quantity == 3  # the failed move added nothing


def test_purge_removes_only_anonymous_leftovers(app, runner):
    live = Owner.visit("l" * 64)
    customer = Owner.customer(42)
    with app.app_context():
        for owner in (ALICE, live, customer):
            services.add_to_bag(owner, HAT, 1, owner.id[:16].ljust(16, "x"))
            services.set_wishlist(owner, JACKET, True)
        db.session.add(
            SessionRecord(
                id=live.id, data="{}", expires_at=now() + timedelta(days=1), created_at=now()
            )
        )
        old = now() - timedelta(hours=2)
        db.session.execute(update(BagLine).values(updated_at=old))
        db.session.execute(update(WishlistItem).values(added_at=old))
        db.session.commit()
    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    assert "2 bag, wishlist or draft row(s)" in result.output
    with app.app_context():
        owners = set(db.session.scalars(select(BagLine.owner_id)))
        assert owners == {live.id, customer.id}
        assert set(db.session.scalars(select(WishlistItem.owner_id))) == {live.id, customer.id}


# ---------------------------------------------------------------- views without JavaScript


def test_add_without_javascript_redirects_back_and_shows_the_notice(shopper):
    response = shopper.add(HAT, next="/offers?tag=R2")
    assert response.status_code == 303
    assert response.headers["Location"] == "/offers?tag=R2"
    html = shopper.client.get("/offers?tag=R2").get_data(as_text=True)
    assert 'class="bag-notice"' in html and "R2 Bucket Hat" in html
    assert 'href="/bag">View bag</a>' in html
    assert re.search(r'id="bag-counter"[^>]*>Bag <span class="count">1</span>', html)
    # The notice shows once.
    assert 'class="bag-notice"' not in shopper.client.get("/offers?tag=R2").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil", "x"])
def test_next_must_be_a_local_path(shopper, target):
    response = shopper.add(HAT, next=target)
    assert response.status_code == 303
    assert response.headers["Location"] == "/bag"


def test_counter_is_the_sum_of_quantities_and_names_the_link(shopper):
    shopper.add(HAT, quantity="2")
    shopper.add(DENIM)
    shopper.wish(JACKET, True)
    assert shopper.counters() == (3, 1)
    html = shopper.client.get("/").get_data(as_text=True)
    assert (
        '<a id="bag-counter" class="counter-link" href="/bag">Bag <span class="count">3</span></a>'
        in html
    )


def test_bag_page_lists_lines_with_totals(shopper):
    shopper.add(HAT, quantity="2")
    shopper.add(DENIM)
    response = shopper.client.get("/bag")
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert "$3,600" in html  # 2 × $1,800
    assert "$6,800" in html  # subtotal
    assert shopper.quantities() == {HAT: 2, DENIM: 1}


def test_quantity_update_remove_and_clear_without_javascript(shopper):
    shopper.add(HAT)
    shopper.add(DENIM)
    lines = shopper.line_ids()
    response = shopper.post(f"/bag/lines/{lines[HAT]}/quantity", {"quantity": "4"})
    assert response.status_code == 303 and response.headers["Location"] == "/bag"
    assert "R2 Bucket Hat: quantity 4" in shopper.client.get("/bag").get_data(as_text=True)
    assert shopper.quantities() == {HAT: 4, DENIM: 1}
    assert shopper.post(f"/bag/lines/{lines[DENIM]}/remove", {}).status_code == 303
    assert shopper.quantities() == {HAT: 4}
    assert shopper.post("/bag/clear", {}).status_code == 303
    assert "Your bag is empty" in shopper.client.get("/bag").get_data(as_text=True)


@pytest.mark.parametrize("value", ["0", "-1", "11", "1.5", "abc", "", " ", "1e1", "１", None])
def test_bad_quantity_on_the_bag_page_keeps_what_was_typed(shopper, app, value):
    shopper.add(HAT, quantity="2")
    line = shopper.line_ids()[HAT]
    data = {} if value is None else {"quantity": value}
    before = table_counts(app)
    response = shopper.post(f"/bag/lines/{line}/quantity", data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Choose a quantity from 1 to 10." in html
    assert 'aria-invalid="true"' in html
    if value and value.strip():
        assert f'value="{value}"' in html
    assert table_counts(app) == before


@pytest.mark.parametrize("value", ["0", "-1", "11", "1.5", "abc", "", None])
@pytest.mark.parametrize("htmx", [False, True])
def test_bad_quantity_on_add_is_refused(shopper, app, value, htmx):
    data = {"offer": HAT, "token": "t" * 16, "next": "/"}
    if value is not None:
        data["quantity"] = value
    response = shopper.post("/bag/add", data, htmx=htmx)
    assert response.status_code == 400
    assert "Choose a quantity from 1 to 10." in response.get_data(as_text=True)
    assert table_counts(app) == (0, 0, 0)


@pytest.mark.parametrize("htmx", [False, True])
def test_csrf_is_required_for_every_action(shopper, app, htmx):
    shopper.add(HAT)
    line = shopper.line_ids()[HAT]
    before = table_counts(app)
    for path, data in [
        ("/bag/add", {"offer": HAT, "quantity": "1", "token": "t" * 16}),
        (f"/bag/lines/{line}/quantity", {"quantity": "3"}),
        (f"/bag/lines/{line}/remove", {}),
        ("/bag/clear", {}),
        ("/wishlist/toggle", {"offer": HAT, "saved": "1"}),
        ("/wishlist/move", {"offer": HAT, "token": "u" * 16}),
    ]:
        missing = shopper.post(path, data, htmx=htmx, csrf=False)
        assert missing.status_code == 400, path
        wrong = shopper.client.post(
            path,
            data=data,
            headers={"X-CSRFToken": "forged", **({"HX-Request": "true"} if htmx else {})},
        )
        assert wrong.status_code == 400, path
    assert table_counts(app) == before


def test_another_visitors_line_ids_answer_404_and_change_nothing(app):
    alice, bob = Shopper(app.test_client()), Shopper(app.test_client())
    alice.add(HAT, quantity="2")
    line = alice.line_ids()[HAT]
    for htmx in (False, True):
        assert (
            bob.post(f"/bag/lines/{line}/quantity", {"quantity": "5"}, htmx=htmx).status_code == 404
        )
        assert bob.post(f"/bag/lines/{line}/remove", {}, htmx=htmx).status_code == 404
    assert bob.post("/bag/lines/999999/remove", {}).status_code == 404
    assert alice.quantities() == {HAT: 2}
    assert "Your bag is empty" in bob.client.get("/bag").get_data(as_text=True)


def test_a_double_click_adds_once_and_answers_like_the_first(shopper, app):
    first = shopper.add(HAT, token="replay-token-0001", next="/offers")
    assert first.status_code == 303
    again = shopper.add(HAT, token="replay-token-0001", next="/offers")
    assert again.status_code == 303 and again.headers["Location"] == "/offers"
    page = shopper.client.get("/offers").get_data(as_text=True)
    assert "Added to your bag" in page  # the notice, as after the first click
    response = shopper.add(HAT, token="replay-token-0001", htmx=True)
    assert response.status_code == 200
    assert "Already added: your bag holds 1 R2 Bucket Hat" in response.get_data(as_text=True)
    assert shopper.quantities() == {HAT: 1}


@pytest.mark.parametrize("htmx", [False, True])
def test_unknown_offer_is_a_404(shopper, app, htmx):
    for path, data in [
        ("/bag/add", {"offer": "nope", "quantity": "1", "token": "t" * 16}),
        ("/wishlist/toggle", {"offer": "nope", "saved": "1"}),
        ("/wishlist/move", {"offer": "nope", "token": "u" * 16}),
    ]:
        response = shopper.post(path, data, htmx=htmx)
        assert response.status_code == 404, path
        assert "not available" in response.get_data(as_text=True)
    assert table_counts(app) == (0, 0, 0)


@pytest.mark.parametrize(
    "data",
    [{"offer": HAT}, {"offer": HAT, "saved": "2"}, {"offer": HAT, "saved": "yes"}, {"saved": "1"}],
)
def test_bad_wishlist_form_is_a_400(shopper, app, data):
    assert shopper.post("/wishlist/toggle", data).status_code == 400
    assert table_counts(app) == (0, 0, 0)


def test_wishlist_toggle_and_move_without_javascript(shopper):
    assert shopper.wish(DENIM, True, next="/offers").headers["Location"] == "/offers"
    html = shopper.client.get("/offers").get_data(as_text=True)
    assert re.search(r'id="wish-card-durable-object-denim-button"[^>]*aria-pressed="true"', html)
    page = shopper.client.get("/wishlist")
    assert page.headers["Cache-Control"] == "no-store"
    token = re.search(r'name="token" value="([^"]+)"', page.get_data(as_text=True))[1]
    response = shopper.post("/wishlist/move", {"offer": DENIM, "token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/wishlist"
    assert "Moved Durable Object Denim to your bag" in shopper.client.get("/wishlist").get_data(
        as_text=True
    )
    assert shopper.counters() == (1, 0)


def test_empty_pages_say_so_and_lead_to_the_offers(client):
    for path, text in (("/bag", "Your bag is empty"), ("/wishlist", "Your wishlist is empty")):
        html = client.get(path).get_data(as_text=True)
        assert text in html and 'href="/offers"' in html


# ---------------------------------------------------------------- views with htmx


def oob_counters(html: str) -> tuple[int, int]:
    bag = re.search(r'id="bag-counter"[^>]*hx-swap-oob="true">Bag <span class="count">(\d+)', html)
    wish = re.search(
        r'id="wishlist-counter"[^>]*hx-swap-oob="true">Wishlist <span class="count">(\d+)', html
    )
    return int(bag[1]), int(wish[1])


def test_htmx_add_answers_the_form_counters_status_and_notice(shopper):
    response = shopper.add(HAT, htmx=True, next="/offers")
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "shop:bag-changed"
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<form id="add-card-r2-bucket-hat"')
    assert "<html" not in html
    assert oob_counters(html) == (1, 0)
    assert re.search(
        r'id="status" hx-swap-oob="innerHTML"><p class="quiet">Added R2 Bucket Hat to your bag</p>',
        html,
    )
    assert (
        'class="bag-notice"' in html and 'data-return-focus="add-card-r2-bucket-hat-button"' in html
    )
    # A fresh form token, so the next click is a new add.
    token = re.search(r'name="token" value="([^"]+)"', html)[1]
    assert shopper.add(HAT, htmx=True, token=token).status_code == 200
    assert shopper.counters() == (2, 0)


def test_htmx_add_beyond_ten_says_so(shopper):
    shopper.add(HAT, quantity="8")
    html = shopper.add(HAT, quantity="5", htmx=True).get_data(as_text=True)
    assert "the most per order" in html
    assert oob_counters(html) == (10, 0)


@pytest.mark.parametrize(
    ("path", "data", "block"),
    [
        ("quantity", {"quantity": "3"}, 'id="bag-contents"'),
        ("remove", {}, 'id="bag-contents"'),
    ],
)
def test_htmx_bag_actions_answer_the_bag_block_and_counters(shopper, path, data, block):
    shopper.add(HAT)
    line = shopper.line_ids()[HAT]
    response = shopper.post(f"/bag/lines/{line}/{path}", data, htmx=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f"<div {block}")
    assert "<html" not in html
    assert oob_counters(html) == ((3, 0) if path == "quantity" else (0, 0))
    assert 'id="status"' in html


def test_htmx_bad_quantity_answers_the_block_with_the_error_in_place(shopper):
    shopper.add(HAT, quantity="2")
    line = shopper.line_ids()[HAT]
    response = shopper.post(f"/bag/lines/{line}/quantity", {"quantity": "12"}, htmx=True)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'value="12"' in html and 'aria-invalid="true"' in html
    assert shopper.quantities() == {HAT: 2}


def test_htmx_wishlist_toggle_is_a_real_toggle(shopper):
    response = shopper.wish(JACKET, True, htmx=True)
    html = response.get_data(as_text=True)
    assert re.search(
        r'<button[^>]*id="wish-card-five-me-flare-jacket-button"[^>]*aria-pressed="true"', html
    )
    assert 'name="saved" value="0"' in html  # pressing again takes it out
    assert oob_counters(html) == (0, 1)
    html = shopper.wish(JACKET, False, htmx=True).get_data(as_text=True)
    assert re.search(r'aria-pressed="false"', html)
    assert oob_counters(html) == (0, 0)


def test_htmx_move_answers_the_wishlist_block(shopper):
    shopper.wish(JACKET, True)
    token = re.search(
        r'name="token" value="([^"]+)"', shopper.client.get("/wishlist").get_data(as_text=True)
    )[1]
    response = shopper.post("/wishlist/move", {"offer": JACKET, "token": token}, htmx=True)
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="wishlist-contents"')
    assert "Your wishlist is empty" in html
    assert oob_counters(html) == (1, 0)


def test_counters_fragment_is_never_cached(shopper):
    shopper.add(HAT)
    response = shopper.client.get("/bag/counters", headers={"HX-Request": "true"})
    assert response.headers["Cache-Control"] == "no-store"
    assert oob_counters(response.get_data(as_text=True)) == (1, 0)


def test_htmx_errors_answer_the_message_for_the_live_region(shopper):
    response = shopper.post("/bag/lines/424242/remove", {}, htmx=True)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#status"
    assert "That line is not in your bag." in response.get_data(as_text=True)


def test_the_counters_draw_the_pages_forms_again_with_fresh_tokens(app, shopper):
    shopper.wish(HAT, True)
    forms = ",".join(
        [f"add-card-{HAT}", f"wish-card-{HAT}", f"wish-detail-{DENIM}", "add-card-nope", "junk!"]
    )
    headers = {"HX-Request": "true", "HX-Current-URL": "http://localhost/offers?tag=R2"}
    html = shopper.client.get(f"/bag/counters?forms={forms}", headers=headers).get_data(
        as_text=True
    )
    assert f'<form id="add-card-{HAT}" hx-swap-oob="true"' in html
    assert 'name="next" value="/offers?tag=R2"' in html
    hat = re.search(rf'<form id="wish-card-{HAT}".*?</form>', html, re.S)[0]
    kit = re.search(rf'<form id="wish-detail-{DENIM}".*?</form>', html, re.S)[0]
    assert 'aria-pressed="true"' in hat and 'aria-pressed="false"' in kit
    assert "nope" not in html and "junk" not in html
    tokens = set(re.findall(r'name="token" value="([^"]+)"', html))
    again = set(
        re.findall(
            r'name="token" value="([^"]+)"',
            shopper.client.get(f"/bag/counters?forms={forms}", headers=headers).get_data(
                as_text=True
            ),
        )
    )
    assert tokens and not tokens & again  # fresh every time
