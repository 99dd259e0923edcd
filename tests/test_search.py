"""Search: ranking, prefix, accents and case, syntax as plain text, the index kept in sync,
the results page and the header box's list, bad input.

Every test here runs on the database the suite runs on: SQLite (FTS5) by default, PostgreSQL
(tsvector) with SHOP_TEST_DATABASE_URL. The expected answers are the same on both.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import delete, func, select, text, update

from shop.catalog.models import Offer, OfferTag
from shop.catalog.services import load_catalog
from shop.extensions import db
from shop.search import engines, services
from shop.search.query import parse_query
from shop.search.services import search
from shop.search.views import highlight
from tests.support.catalogue import DENIM, HAT, JACKET, KIT, offer_entry, write_catalogue
from tests.support.database import PG_URL, statements_sent
from tests.support.pagetext import page_text
from tests.support.shopper import HX

SHELF = [JACKET, DENIM, KIT, HAT]


def found(app, query, **options) -> list[str]:
    with app.app_context():
        slugs = [offer.slug for offer in search(query, **options).offers]
        db.session.rollback()
        return slugs


def total(app, query, **options) -> int:
    with app.app_context():
        count = search(query, **options).total
        db.session.rollback()
        return count


def load_entries(app, tmp_path: Path, entries: list[dict]) -> None:
    """Upsert offers from a generated catalogue file (JSON strings are TOML strings)."""
    path = write_catalogue(tmp_path / "extra.toml", entries)
    with app.app_context():
        load_catalog(path)


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", SHELF),  # an empty query: every offer, shelf order
        ("sync", [DENIM, KIT]),  # "sync" is a tag of the denim: typed exactly, it comes first
        ("state", [DENIM, KIT, JACKET]),  # the tag, then tags and category, then description
        ("sync-state", [KIT, DENIM]),  # a tag with a hyphen, typed exactly
        ("architecture", [JACKET, DENIM]),  # category and description above category alone
        ("edge", [JACKET, DENIM]),  # category above description
        ("r2", [HAT]),
        ("websocket", [KIT]),
        ("sync kit", [KIT]),  # every word must match
        ("websocket denim", []),
        ("zzz", []),
    ],
)
def test_ranking_on_the_four_offers(app, query, expected):
    assert found(app, query) == expected


def test_title_ranks_above_tags_above_category_above_description(app, tmp_path):
    load_entries(
        app,
        tmp_path,
        [
            offer_entry("z-description", description="A review of the zephyr system design."),
            offer_entry("z-code", code_note="Zephyr notes."),
            offer_entry("z-category", category="Zephyr work"),
            offer_entry("z-tags", tags=["zephyr-kit"]),
            offer_entry("z-title", title="Zephyr review"),
        ],
    )
    order = found(app, "zephyr")
    assert order[:3] == ["z-title", "z-tags", "z-category"]
    assert set(order[3:]) == {"z-description", "z-code"}


def test_fields_are_strict_tiers(app, tmp_path):
    """A title that holds the word beats an offer that has it everywhere else."""
    load_entries(
        app,
        tmp_path,
        [
            offer_entry(
                "z-everywhere-else",
                tags=["zephyr-kit"],
                category="Zephyr work",
                description="Zephyr, zephyr and zephyr.",
                code_note="Zephyr notes.",
            ),
            offer_entry("z-title", title="Plain zephyr review with a long title"),
        ],
    )
    assert found(app, "zephyr") == ["z-title", "z-everywhere-else"]
    # Every word must be in the tier's fields: "plain" is in every title, "kit" in tags.
    assert found(app, "zephyr kit") == ["z-everywhere-else"]
    assert found(app, "zephyr plain")[0] == "z-title"


@pytest.mark.parametrize("query", ["zephyr", "ZEPHYR", "Zéphyr", "  zephyr  "])
def test_a_tag_typed_exactly_ranks_its_offers_first(app, tmp_path, query):
    load_entries(
        app,
        tmp_path,
        [
            offer_entry("z-title", title="Zephyr review"),
            offer_entry("z-tagged", tags=["Zephyr", "plain"]),
            offer_entry("z-tagged-title", title="Zephyr kit", tags=["zephyr"]),
        ],
    )
    # The tag's offers in shelf order (as its tag page lists them), then the rest.
    assert found(app, query) == ["z-tagged", "z-tagged-title", "z-title"]
    assert found(app, query, limit=1, offset=1) == ["z-tagged-title"]
    assert found(app, query, limit=2, offset=1) == ["z-tagged-title", "z-title"]


# ---------------------------------------------------------------- prefix, accents, case


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("dura", DENIM),
        ("DURA", DENIM),
        ("durablé", DENIM),
        ("DÛRÂBLÉ ÖBJÉCT", DENIM),
        ("web", KIT),
        ("websocket", KIT),
        ("WEBSOCKET", KIT),
        ("WebSock", KIT),
        ("ｗｅｂｓｏｃｋｅｔ", KIT),  # full-width letters fold to plain ones
        ("bucket h", HAT),
        ("worker", JACKET),  # worker.ts: the file name's words are words
    ],
)
def test_prefix_accents_and_case_do_not_matter(app, query, first):
    assert found(app, query)[:1] == [first]


def test_only_the_last_word_is_a_prefix(app):
    assert found(app, "dura object") == []  # "dura" is not a whole word
    assert found(app, "durable obj") == [DENIM]


def test_accents_in_the_offer_fold_too(app, tmp_path):
    load_entries(app, tmp_path, [offer_entry("z-cafe", title="Café Crème Review")])
    assert found(app, "cafe creme") == ["z-cafe"]
    assert found(app, "CAFÉ") == ["z-cafe"]


# ---------------------------------------------------------------- syntax is plain text


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("websocket OR denim", 0),  # OR is a word here, and no offer has it
        ("NEAR(websocket sync)", 0),
        ("title:denim", 0),  # no column filter: "title" is a word
        ('"websocket denim"', 0),  # no phrase: two words, both must match
        ("websocket -sync", 1),  # no negation
        ("sync & !websocket", 1),  # no tsquery operators
        ("sync | denim", 1),
        ("web:*", 1),
        ("sync*", 2),
        ('"sync', 2),
        ("sync'", 2),
        ("(sync)", 2),
        ("{sync}^2", 0),
        ("%sync%", 2),
        ("sync_", 2),
        ("sync\\", 2),
        ("' OR 1=1 --", 0),
        ("'; DROP TABLE offers; --", 0),
        ('") OR ("1', 0),
        ("AND", 4),  # the word "and": every description has it
        ("NOT", 0),
        ("*", 0),
        ("-", 0),
        (":", 0),
        ('""', 0),
        ("%", 0),
        ("_", 0),
    ],
)
def test_syntax_characters_are_plain_text(app, query, count):
    assert total(app, query) == count
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 4


def test_query_is_cut_at_100_characters(app):
    with app.app_context():
        result = search("sync " + "x" * 10_000)
        assert len(result.query.text) == 100
        assert result.total == 0
        assert search("\x00sync\x1f").total == 2


def test_limit_and_offset(app):
    assert found(app, "", limit=2) == SHELF[:2]
    assert found(app, "", limit=2, offset=3) == SHELF[3:]
    assert found(app, "", offset=10**30) == []
    assert total(app, "", offset=10**30) == 4
    assert found(app, "state", limit=1, offset=1) == [KIT]
    for offset in (3, 10**12, 10**30):
        assert found(app, "state", offset=offset) == []
        assert total(app, "state", offset=offset) == 3
    with app.app_context(), pytest.raises(ValueError):
        search("sync", offset=-1)


@pytest.mark.skipif(bool(PG_URL), reason="SQLite scores a large tier in windows")
def test_a_large_tier_is_ranked_window_by_window(app, tmp_path, monkeypatch):
    """BM25 scores a tier's matches a window at a time, in id order: every match comes once,
    in the same order page after page, and a tier smaller than a window is ranked whole."""
    titles = ["Zephyr review of a long system"] * 7
    titles[5] = "Zephyr"  # the shortest title: the best BM25 of the tier
    load_entries(app, tmp_path, [offer_entry(f"z-{n}", title=t) for n, t in enumerate(titles)])
    whole = found(app, "zephyr")
    assert whole[0] == "z-5" and sorted(whole) == [f"z-{n}" for n in range(7)]

    monkeypatch.setattr(engines, "SCORED_PER_WINDOW", 3)
    windowed = found(app, "zephyr")
    assert sorted(windowed[:3]) == ["z-0", "z-1", "z-2"]
    assert windowed[3] == "z-5" and sorted(windowed[3:6]) == ["z-3", "z-4", "z-5"]
    assert windowed[6] == "z-6"
    pages = [found(app, "zephyr", limit=2, offset=start) for start in range(0, 8, 2)]
    assert [slug for page in pages for slug in page] == windowed
    assert total(app, "zephyr") == 7


# ---------------------------------------------------------------- the index stays in sync


def test_index_follows_changes_to_offers_and_tags(app):
    with app.app_context():
        offer = db.session.scalar(select(Offer).where(Offer.slug == HAT))
        offer.title = "R2 Bucket Zephyr"
        db.session.commit()
        assert [o.slug for o in search("zephyr").offers] == [HAT]
        assert search("hat").total == 0

        offer.tags.append(OfferTag(name="Quokka", key="quokka", position=9))
        db.session.commit()
        assert [o.slug for o in search("quokka").offers] == [HAT]

        db.session.execute(delete(OfferTag).where(OfferTag.key == "quokka"))
        db.session.commit()
        assert search("quokka").total == 0

        db.session.execute(update(Offer).where(Offer.slug == HAT).values(active=False))
        db.session.commit()
        assert search("zephyr").total == 0
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(active=True))
        db.session.commit()
        assert search("zephyr").total == 1
        db.session.execute(update(Offer).where(Offer.slug == HAT).values(active=False))
        db.session.commit()

        db.session.execute(delete(Offer).where(Offer.slug == HAT))
        db.session.commit()
        assert search("bucket").total == 0
        assert search("").total == 3
        _index_is_sound()


def _index_is_sound() -> None:
    """SQLite: FTS5's own check that the index matches its content."""
    if not PG_URL:
        check = "INSERT INTO offers_fts (offers_fts, rank) VALUES ('integrity-check', 1)"
        db.session.execute(text(check))
        db.session.rollback()


def test_index_follows_tag_renames_moves_and_reorders(app):
    with app.app_context():
        hat = db.session.scalar(select(Offer.id).where(Offer.slug == HAT))
        denim = db.session.scalar(select(Offer.id).where(Offer.slug == DENIM))
        db.session.execute(
            update(OfferTag).where(OfferTag.key == "assets").values(name="Quokka", key="quokka")
        )
        db.session.execute(update(OfferTag).where(OfferTag.offer_id == hat).values(position=7))
        db.session.commit()
        assert [o.slug for o in search("quokka").offers] == [HAT]
        assert search("assets").total == 0
        _index_is_sound()

        db.session.execute(update(OfferTag).where(OfferTag.key == "quokka").values(offer_id=denim))
        db.session.commit()
        assert [o.slug for o in search("quokka").offers] == [DENIM]
        _index_is_sound()

        # Several rows in one statement, and an offer with its tags deleted by cascade.
        db.session.execute(update(Offer).values(category="Plain work"))
        db.session.execute(delete(Offer).where(Offer.slug == DENIM))
        db.session.commit()
        assert search("quokka").total == 0
        assert search("architecture").total == 1  # still in the jacket's description
        assert search("plain work").total == 3
        _index_is_sound()


def test_reloading_the_catalogue_reindexes(app, runner):
    with app.app_context():
        db.session.execute(delete(OfferTag))
        db.session.commit()
        assert search("sessions").total == 1  # still in the denim's description
        assert search("d1").total == 0
    result = runner.invoke(args=["catalog", "load"])
    assert result.exit_code == 0, result.output
    assert found(app, "d1") == [JACKET]
    assert found(app, "sync") == [DENIM, KIT]


def test_the_backend_matches_the_database(app):
    with app.app_context():
        if PG_URL:
            vector = db.session.scalar(
                text(
                    "SELECT s.vector::text FROM offers_fts AS s "
                    "JOIN offers AS o ON o.id = s.offer_id WHERE o.slug = :slug"
                ),
                {"slug": DENIM},
            )
            assert "'durable':1A" in vector and "'sync':5B" in vector
            assert db.session.scalar(text("SELECT count(*) FROM offers_fts")) == 4
        else:
            count = db.session.scalar(text("SELECT count(*) FROM offers_fts"))
            assert count == 4
            integrity = "INSERT INTO offers_fts (offers_fts, rank) VALUES ('integrity-check', 1)"
            db.session.execute(text(integrity))
        db.session.rollback()


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's query planner")
def test_fts5_drives_every_sqlite_search(app):
    """A tag filter or the exact-tag order must not turn into one MATCH per offer id
    (rowid constraints handed to FTS5): harmless on four offers, seconds on 100,000."""
    with app.app_context():
        with statements_sent(app) as sent:
            search("sync", tag="WebSocket")
            search("state")  # an exact tag: ordered by it
        statements = [(text, values) for text, values in sent if "offers_fts MATCH" in text]
        assert len(statements) >= 3
        connection = db.session.connection()
        for statement, parameters in statements:
            plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            steps = [row[3] for row in plan]
            # M: the MATCH; < and >: an id range (windows); never = (one MATCH per id).
            assert any(
                re.fullmatch(r"SCAN offers_fts VIRTUAL TABLE INDEX \d+:M\d*[<>]*", s) for s in steps
            ), steps
        db.session.rollback()


@pytest.mark.skipif(not PG_URL, reason="TRUNCATE is PostgreSQL's")
def test_truncating_the_tags_clears_them_from_the_index(app):
    with app.app_context():
        db.session.execute(text("TRUNCATE offer_tags"))
        db.session.commit()
        assert search("d1").total == 0
        assert search("jacket").total == 1


def test_autogenerate_leaves_the_search_index_alone(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shop.search.index import include_object

    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": include_object})
        diffs = compare_metadata(context, db.metadata)
    assert not [diff for diff in diffs if re.search(r"offers_fts|search_", repr(diff))]


# ---------------------------------------------------------------- highlighting


def test_highlight_escapes_and_marks_whole_words():
    query = parse_query("sync dur")
    marked = highlight("<b>Sync</b> synchronous Durablé & durable", query)
    assert marked == (
        "&lt;b&gt;<mark>Sync</mark>&lt;/b&gt; synchronous <mark>Durablé</mark> &amp; "
        "<mark>durable</mark>"
    )
    assert highlight("<i>x</i>", parse_query("")) == "&lt;i&gt;x&lt;/i&gt;"
    assert highlight("a <mark>", parse_query("mark")) == "a &lt;<mark>mark</mark>&gt;"


class _Attributes(HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.values += [value or "" for _, value in attrs]


@pytest.mark.parametrize("path", ["/search?q=sync", "/search/suggest?q=sync"])
def test_marks_are_in_text_never_in_attributes(client, path):
    html = client.get(path, headers=HX if "suggest" in path else {}).get_data(as_text=True)
    assert "<mark>Sync</mark>" in html or "<mark>sync</mark>" in html
    parser = _Attributes()
    parser.feed(html)
    assert not [value for value in parser.values if "mark>" in value]


# ---------------------------------------------------------------- the results page


def test_results_page_lists_matches_ranked_with_highlights(client):
    response = client.get("/search?q=sync")
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" in html and 'class="site-header"' in html
    assert html.count('class="offer-card"') == 2
    assert html.index(f'href="/offers/{DENIM}"') < html.index(f'href="/offers/{KIT}"')
    assert "Realtime WebSocket <mark>Sync</mark> Kit" in html
    text = page_text(html)
    assert "Results for “sync”" in text and "2 results" in text
    assert '<meta name="robots" content="noindex, follow">' in html
    # The header box keeps the query.
    assert re.search(r'id="site-search-input"[^>]*value="sync"', html, re.S)


def test_htmx_gets_the_cards_alone(client):
    response = client.get("/search?q=sync", headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" not in html and "<h1" not in html
    assert html.count('class="offer-card"') == 2
    assert 'id="search-live" hx-swap-oob="innerHTML"' in html


def test_a_boosted_request_gets_the_whole_page(client):
    html = client.get("/search?q=sync", headers={**HX, "HX-Boosted": "true"}).get_data(as_text=True)
    assert "<html" in html


def test_tag_filter_combines_with_the_query(client):
    for tag in ("WebSocket", "websocket"):
        html = client.get(f"/search?q=sync&tag={tag}").get_data(as_text=True)
        assert html.count('class="offer-card"') == 1
        assert f'href="/offers/{KIT}"' in html
        assert "tagged “WebSocket”" in page_text(html)
    html = client.get("/search?tag=R2").get_data(as_text=True)
    assert html.count('class="offer-card"') == 1 and f'href="/offers/{HAT}"' in html


def test_tags_of_the_matches_narrow_the_search(client):
    html = client.get("/search?q=state").get_data(as_text=True)
    assert 'href="/search?q=state&amp;tag=WebSocket"' in html
    html = client.get("/search?q=state&tag=sync").get_data(as_text=True)
    assert 'href="/search?q=state&amp;tag=sync" aria-current="page"' in html


@pytest.mark.parametrize("path", ["/search?q=zzz", "/search?q=sync&tag=R2", "/search?tag=nope"])
def test_empty_state_offers_the_tags(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'class="offer-card"' not in html
    text = page_text(html)
    assert "Nothing" in text or "No offer carries" in text
    for tag in ("Workers", "state", "WebSocket", "R2"):
        assert f'href="/search?tag={tag}"' in html


def test_every_link_on_the_results_page_answers(client):
    html = client.get("/search?q=state").get_data(as_text=True)
    for href in set(re.findall(r'href="(/[^"#]*)"', html)):
        href = href.replace("&amp;", "&")
        assert client.get(href, follow_redirects=True).status_code == 200, href


def test_search_pages_have_no_inline_script_or_style(client):
    for path, headers in [("/search?q=sync", {}), ("/search/suggest?q=sync", HX)]:
        html = client.get(path, headers=headers).get_data(as_text=True)
        assert " style=" not in html and "<style" not in html
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html)
        assert not re.search(r"<[^>]+\son[a-z]+=", html)
        assert "hx-on" not in html and "js:" not in html


# ---------------------------------------------------------------- pagination


@pytest.fixture
def sixty(app, tmp_path):
    """Sixty more offers that all match "zephyr", in shelf order z-00 ... z-59."""
    load_entries(
        app,
        tmp_path,
        [offer_entry(f"z-{n:02d}", title=f"Zephyr review {n:02d}") for n in range(60)],
    )
    return [f"z-{n:02d}" for n in range(60)]


def card_slugs(html: str) -> list[str]:
    return re.findall(r'<a class="offer-link" href="/offers/([^"]+)"', html)


def test_pages_of_24_with_load_more_and_links(client, sixty):
    first = client.get("/search?q=zephyr").get_data(as_text=True)
    assert card_slugs(first) == sixty[:24]
    assert "60 results · page 1 of 3" in page_text(first)
    more = re.search(r'<a class="button button-primary search-more-button"[^>]*>', first, re.S)[0]
    assert 'href="/search?q=zephyr&amp;page=2"' in more
    assert 'hx-get="/search?q=zephyr&amp;page=2"' in more
    assert 'hx-target="closest .search-more"' in more and 'hx-swap="outerHTML"' in more

    # htmx: the next cards and the next "Load more", to replace the old one.
    second = client.get("/search?q=zephyr&page=2", headers=HX).get_data(as_text=True)
    assert "<html" not in second
    assert card_slugs(second) == sixty[24:48]
    assert 'hx-get="/search?q=zephyr&amp;page=3"' in second
    assert "Previous page" not in second
    assert "Results 25 to 48 of 60 loaded." in second

    # Without JavaScript: page 3 is a page of its own, with a link back.
    third = client.get("/search?q=zephyr&page=3").get_data(as_text=True)
    assert card_slugs(third) == sixty[48:]
    assert 'rel="prev" href="/search?q=zephyr&amp;page=2"' in third
    assert "search-more-button" not in third
    last = client.get("/search?q=zephyr&page=3", headers=HX).get_data(as_text=True)
    assert "That is all of them." in last


@pytest.mark.parametrize("page", ["4", "99", "99999999999999999999999", "0002"])
def test_a_page_past_the_end_is_a_normal_page(client, sixty, page):
    response = client.get(f"/search?q=zephyr&page={page}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    if page == "0002":
        assert card_slugs(html) == sixty[24:48]
    else:
        assert "There is no page" in page_text(html)
        assert 'href="/search?q=zephyr"' in html


@pytest.mark.parametrize(
    "page", ["0", "-1", "abc", "1.5", "%201", "1e3", "+2", "%EF%BC%92", "%00", "2%0a", "0x10"]
)
@pytest.mark.parametrize("headers", [{}, HX])
def test_a_malformed_page_is_a_400_with_a_message(client, page, headers):
    response = client.get(f"/search?q=sync&page={page}", headers=headers)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "page number must be a whole number" in html
    assert "Traceback" not in html


# ---------------------------------------------------------------- the header box


def test_every_page_has_the_search_combobox(client):
    html = client.get("/").get_data(as_text=True)
    form = re.search(r'<form class="site-search".*?</form>', html, re.S)[0]
    assert 'action="/search" method="get"' in form
    box = re.search(r'<input id="site-search-input".*?>', form, re.S)[0]
    for attribute in (
        'name="q"',
        'role="combobox"',
        'aria-expanded="false"',
        'aria-controls="site-search-listbox"',
        'aria-autocomplete="list"',
        'hx-get="/search/suggest"',
        'hx-trigger="input changed delay:250ms, search"',
        'hx-target="#site-search-popup"',
        'hx-sync="this:replace"',
    ):
        assert attribute in box
    assert 'id="site-search-listbox"' in form
    assert re.search(r'id="site-search-live"[^>]*aria-live="polite"', form)
    assert re.search(r'<script src="/static/js/search\.js\?v=[0-9a-f]{12}" defer>', html)


def test_suggestions_list_six_with_the_count(client, sixty):
    response = client.get("/search/suggest?q=zeph", headers=HX)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert html.count('role="option"') == 6
    assert re.search(r'role="listbox"[^>]*>', html)[0].count("hidden") == 0
    assert "See all 60 results" in html and 'href="/search?q=zeph"' in html
    assert "<mark>Zephyr</mark> review 00" in html
    assert "$1,000" in html and "Plain work" in html and "<img" in html
    assert ">60 results, the first 6 listed.</div>" in html
    ids = re.findall(r'<a id="([^"]+)"[^>]*role="option"', html)
    assert len(set(ids)) == 6


def test_suggestions_for_nothing_and_for_no_match(client):
    html = client.get("/search/suggest?q=", headers=HX).get_data(as_text=True)
    assert 'role="option"' not in html and "See all" not in html
    assert '<div id="site-search-live" hx-swap-oob="innerHTML"></div>' in html
    html = client.get("/search/suggest?q=zzz", headers=HX).get_data(as_text=True)
    assert "No offers match “zzz”." in html and ">No results.</div>" in html
    assert re.search(r'role="listbox"[^>]*hidden', html)


def test_suggest_without_htmx_goes_to_the_results_page(client):
    response = client.get("/search/suggest?q=sync")
    assert response.status_code == 303
    assert response.headers["Location"] == "/search?q=sync"
    assert "HX-Request" in response.headers["Vary"]


# ---------------------------------------------------------------- bad input, over HTTP

BAD_QUERIES = [
    "' OR 1=1 --",
    "'; DROP TABLE offers; --",
    "1; SELECT * FROM sessions",
    '"unbalanced',
    "sync*",
    "NEAR(sync websocket, 2)",
    "title:sync",
    "^sync",
    "sync AND OR NOT",
    "sync & !websocket | (denim <-> hat)",
    "websocket:* & sync:A",
    "(((",
    "\\",
    "%",
    "_",
    "%_%",
    "\x00\x01\x1f\x7f\x9f",
    "tab\there\nnewline",
    "\ufffd\ufeff\u200b",
    "😀 sync",
    "ǅ ß ﬁ ① Ⅻ",
    "a" * 150,
]
RAW_QUERIES = ["%ed%a0%80", "%ff%fe", "%c0%af", "sync%00", "%25%27%22"]


def _check_page(response, status=200):
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Traceback" not in html
    return html


@pytest.mark.parametrize(
    "raw", [quote(q, safe="") for q in BAD_QUERIES] + RAW_QUERIES, ids=lambda raw: raw[:30]
)
@pytest.mark.parametrize("path", ["/search", "/search/suggest"])
def test_any_query_gets_a_normal_answer(client, app, path, raw):
    headers = HX if path.endswith("suggest") else {}
    for suffix in ("", "&tag=" + raw, "&page=1"):
        html = _check_page(client.get(f"{path}?q={raw}{suffix}", headers=headers))
        if not headers:
            assert "<h1" in html
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 4


def test_ten_thousand_characters(app, client):
    raw = quote("sync " + "é" * 10_000, safe="")
    # The query is cut at 100 characters and answered normally.
    html = _check_page(client.get(f"/search?q={raw}"))
    assert "No results" in page_text(html)
    _check_page(client.get(f"/search/suggest?q={raw}", headers=HX))


# ---------------------------------------------------------------- migration


def test_the_migration_goes_down_and_up_again(tmp_path):
    from flask_migrate import downgrade, upgrade

    from shop import create_app
    from tests.support.database import TEST_SECRET, create_schema, worker_schema

    url = create_schema(worker_schema("_search")) if PG_URL else f"sqlite:///{tmp_path}/m.sqlite3"
    app = create_app(
        {"TESTING": True, "INSTANCE_PATH": tmp_path, "DATABASE_URL": url, "SECRET_KEY": TEST_SECRET}
    )
    try:
        with app.app_context():
            upgrade()
            load_catalog()
            assert services.search("dura").total == 1
            db.session.remove()
            downgrade(revision="0001")  # every later revision down, the search index's too
            db.session.remove()
            upgrade()
            assert services.search("dura").total == 1
            db.session.remove()
    finally:
        with app.app_context():
            if PG_URL:
                with db.engine.begin() as conn:
                    conn.execute(
                        text(f'DROP SCHEMA IF EXISTS "{worker_schema("_search")}" CASCADE')
                    )
            db.engine.dispose()


def test_alembic_check_through_the_migrations_env_sees_no_change(app):
    """`flask db check` (migrations/env.py) leaves the search index, which no model maps."""
    from flask_migrate import check

    with app.app_context():
        check()  # raises when autogenerate would write a migration
