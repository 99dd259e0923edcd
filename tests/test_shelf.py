"""The shelf (shop/catalog/shelf.py): the offers and their cards' fixed part kept per
catalogue version, every answer with its visitor's own tokens, counters and wishlist marks,
and nothing of a visitor able to enter what is kept."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from jinja2 import UndefinedError
from sqlalchemy import create_engine, event, update

from shop import create_app
from shop.catalog import shelf
from shop.catalog.models import CatalogVersion, Offer
from shop.catalog.services import stored_version
from shop.extensions import db
from tests.support.database import TEST_SECRET
from tests.support.pagetext import page_text
from tests.support.shopper import Shopper

HAT = "r2-bucket-hat"
PAGES = ["/", "/offers", f"/offers/{HAT}", "/offers?tag=R2", "/search?q=sync"]


@contextmanager
def offer_reads(app) -> Iterator[list[str]]:
    """The statements that read the offers table while the block runs."""
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if re.search(r"\bFROM offers\b", statement):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def tokens(html: str) -> tuple[str, list[str], list[str]]:
    """The page's header CSRF token, its forms' CSRF tokens and their one-use tokens."""
    header = re.search(r'"X-CSRFToken": "([^"]+)"', html)[1]
    return (
        header,
        re.findall(r'name="csrf_token" value="([^"]+)"', html),
        re.findall(r'name="token" value="([^"]+)"', html),
    )


def rename(app, title: str) -> None:
    with app.app_context():
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(title=title))
        db.session.commit()


@pytest.mark.parametrize("path", PAGES[:-1])
def test_a_catalogue_page_does_not_read_the_offers_again(app, path):
    client = app.test_client()
    first = client.get(path)
    with offer_reads(app) as reads:
        again = app.test_client().get(path)
    assert first.status_code == again.status_code == 200
    assert reads == []
    # The same page but for the tokens, which are never shared.
    strip = re.compile(r'(value="|"X-CSRFToken": ")[^"]+')
    assert strip.sub("", first.get_data(as_text=True)) == strip.sub(
        "", again.get_data(as_text=True)
    )


def test_every_answer_carries_its_own_tokens(app):
    pages = [app.test_client().get("/").get_data(as_text=True) for _ in range(3)]
    found = [tokens(page) for page in pages]
    headers = [header for header, _, _ in found]
    assert len(set(headers)) == 3
    one_use = [token for _, _, form_tokens in found for token in form_tokens]
    assert len(one_use) == len(set(one_use)) >= 3 * 4  # fresh for every form of every answer
    for header, form_csrf, _ in found:
        assert set(form_csrf) == {header}  # the page's forms carry the visitor's own token


def test_a_token_from_a_page_drawn_from_the_shelf_is_accepted(app):
    app.test_client().get("/")  # someone else's visit fills the store
    shopper = Shopper(app.test_client())
    html = shopper.refresh("/")
    _, _, form_tokens = tokens(html)
    answer = shopper.add(HAT, token=form_tokens[0], htmx=True)
    assert answer.status_code == 200
    again = shopper.add(HAT, token=form_tokens[0], htmx=True)  # spent: a repeat
    assert "Already added" in again.get_data(as_text=True)
    assert shopper.counters() == (1, 0)


def test_the_visitors_counters_and_wishlist_marks_are_their_own(app):
    app.test_client().get("/")
    alice, bob = Shopper(app.test_client()), Shopper(app.test_client())
    alice.add(HAT, quantity="3", htmx=True)
    alice.wish(HAT, saved=True, htmx=True)
    alice_home = alice.client.get("/").get_data(as_text=True)
    bob_home = bob.client.get("/").get_data(as_text=True)
    assert 'Bag <span class="count">3</span>' in alice_home
    assert 'Wishlist <span class="count">1</span>' in alice_home
    assert f'id="wish-card-{HAT}-button" type="submit" aria-pressed="true"' in alice_home
    assert 'Bag <span class="count">0</span>' in bob_home
    assert f'id="wish-card-{HAT}-button" type="submit" aria-pressed="false"' in bob_home
    # And Alice's marks again after Bob's visit drew the same cards.
    alice_home = alice.client.get("/").get_data(as_text=True)
    assert f'id="wish-card-{HAT}-button" type="submit" aria-pressed="true"' in alice_home


def test_the_notice_after_an_add_without_javascript_shows_once(app):
    shopper = Shopper(app.test_client())
    shopper.client.get(f"/offers/{HAT}")
    assert shopper.add(HAT, next=f"/offers/{HAT}").status_code == 303
    shown = shopper.client.get(f"/offers/{HAT}").get_data(as_text=True)
    assert 'id="bag-notice-title"' in shown
    assert 'Bag <span class="count">1</span>' in shown
    again = shopper.client.get(f"/offers/{HAT}").get_data(as_text=True)
    assert 'id="bag-notice-title"' not in again
    assert 'Bag <span class="count">1</span>' in again


def test_a_catalogue_change_made_here_shows_at_once(app):
    client = app.test_client()
    for path in ("/", f"/offers/{HAT}", "/search?q=bucket"):
        client.get(path)
    before = stored_version_of(app)
    rename(app, "A renamed bucket hat")
    assert stored_version_of(app) == before + 1
    for path in ("/", f"/offers/{HAT}", "/search?q=bucket"):
        assert "A renamed bucket hat" in page_text(client.get(path).get_data(as_text=True)), path


def stored_version_of(app) -> int:
    with app.app_context():
        try:
            return stored_version()
        finally:
            db.session.remove()


@pytest.mark.parametrize("check_seconds", [3600.0, 0.0])
def test_a_change_made_by_another_process_shows_after_the_check(app, check_seconds):
    """Another app on the same database stands for another server or a CLI run."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    reader = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": app.instance_path,
            "DATABASE_URL": url,
            "SECRET_KEY": TEST_SECRET,
            "CATALOG_CHECK_SECONDS": check_seconds,
        }
    )
    try:
        client = reader.test_client()
        assert "R2 Bucket Hat" in client.get(f"/offers/{HAT}").get_data(as_text=True)
        # Core statements on an engine of its own, as another server's process would
        # write: nothing in this process counts the change.
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(update(Offer).where(Offer.slug == HAT).values(title="A renamed hat"))
            conn.execute(update(CatalogVersion).values(version=CatalogVersion.version + 1))
        engine.dispose()
        page = client.get(f"/offers/{HAT}").get_data(as_text=True)
        if check_seconds:
            assert "A renamed hat" not in page  # kept until the next check
        else:
            assert "A renamed hat" in page
    finally:
        with reader.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize(
    "source",
    [
        "{{ session }}",
        "{{ current_user.name }}",
        "{{ g.bag_counts }}",
        "{{ request.path }}",
        "{{ csrf_token() }}",
        "{{ form_token() }}",
        "{{ header_counts() }}",
        "{{ in_wishlist(offer) }}",
        "{{ get_flashed_messages() }}",
    ],
)
def test_a_kept_card_cannot_read_anything_of_the_visitor(app, source):
    """The cards are drawn in an environment that knows no visitor: a card template that
    read the session, the user, g, the request or a token would fail to draw."""
    env = shelf.neutral_environment(app)
    with app.test_request_context("/"), pytest.raises(UndefinedError):
        env.from_string(source).render(offer=None)


def test_the_card_template_draws_in_the_neutral_environment(app):
    env = shelf.neutral_environment(app)
    with app.test_request_context("/"):
        offer = shelf.current().by_slug[HAT]
        html = env.get_template(shelf.CARD_TEMPLATE).module.card(offer, "h2")
    assert f'id="offer-{HAT}-title"' in html and "R2 Bucket Hat" in html


def test_a_search_result_card_marks_the_matches_and_is_not_kept(app):
    client = app.test_client()
    client.get("/")  # the shelf's cards drawn
    page = client.get("/search?q=bucket").get_data(as_text=True)
    assert "<mark>Bucket</mark>" in page
    assert "<mark>" not in client.get("/").get_data(as_text=True)


def test_the_health_check_reads_no_session(app):
    shopper = Shopper(app.test_client())
    shopper.add(HAT)  # a visitor with a stored session
    statements: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = shopper.client.get("/healthz")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
    # (SQLite's connections begin their transactions by hand: shop/db.py.)
    assert [s for s in statements if s != "BEGIN"] == ["SELECT 1"]


def test_the_address_to_come_back_to_is_escaped_in_the_forms(app):
    page = app.test_client().get("/offers?tag=R2&x=%22%3E%3Cb%3E").get_data(as_text=True)
    nexts = re.findall(r'name="next" value="([^"]*)"', page)
    assert len(nexts) >= 2
    assert set(nexts) == {"/offers?tag=R2&amp;x=%22%3E%3Cb%3E"}
