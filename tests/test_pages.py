"""The storefront pages: the seed copy, the offers, links, SEO data, error pages."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.support.pagetext import fold, page_text

SEED = Path(__file__).parent / "seed" / "storefront-page.txt"
SLUGS = [
    "five-me-flare-jacket",
    "durable-object-denim",
    "realtime-websocket-sync-kit",
    "r2-bucket-hat",
]


def seed_lines() -> list[str]:
    lines = []
    for line in SEED.read_text().splitlines():
        line = line.strip().removeprefix("•").strip()
        if line:
            lines.append(line)
    return lines


@pytest.mark.parametrize("line", seed_lines())
def test_home_shows_every_line_of_the_seed_page(client, line):
    text = page_text(client.get("/").get_data(as_text=True))
    assert fold(line) in text


def test_home_lists_the_four_offers_with_prices(client):
    html = client.get("/").get_data(as_text=True)
    assert "4 Cloudflare offers" in html
    for slug in SLUGS:
        assert f'href="/offers/{slug}"' in html
    for price in ("$4,500", "$3,200", "$2,800", "$1,800"):
        assert price in html


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.hrefs.append(attributes["href"])
        if tag in {"img", "script"} and attributes.get("src"):
            self.sources.append(attributes["src"])
        if tag == "link" and attributes.get("href", "").startswith("/"):
            self.sources.append(attributes["href"])


@pytest.mark.parametrize(
    "path", ["/", "/offers", "/offers/r2-bucket-hat", "/account/sign-in", "/account/register"]
)
def test_every_link_and_asset_on_a_page_answers(client, path):
    html = client.get(path).get_data(as_text=True)
    parser = _Links()
    parser.feed(html)
    ids = set(re.findall(r'id="([^"]+)"', html))
    for href in parser.hrefs + parser.sources:
        target, _, anchor = href.partition("#")
        if target:
            assert target.startswith("/"), f"{href} leaves the shop"
            response = client.get(target, follow_redirects=True)  # /account: to sign in
            assert response.status_code == 200, href
            if anchor and target.split("?")[0] != path:
                assert f'id="{anchor}"' in response.get_data(as_text=True), href
        elif anchor:
            assert anchor in ids, f"{href} points to nothing on {path}"


@pytest.mark.parametrize("slug", SLUGS)
def test_offer_page_shows_its_offer_and_product_data(client, app, slug):
    from shop.catalog.services import get_offer

    with app.app_context():
        offer = get_offer(slug)
        title, description, price = offer.title, offer.description, offer.price_cents
        alt, tags = offer.image_alt, offer.tag_names
    response = client.get(f"/offers/{slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    text = page_text(html)
    assert f'<h1 id="offer-title">{title}</h1>' in html
    assert description in text and alt in text
    assert f"${price // 100:,}" in text
    for tag in tags:
        assert f"/offers?tag={tag}" in html
    data = json.loads(
        re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)[1]
    )
    assert data["@type"] == "Product"
    assert data["name"] == title
    assert data["offers"]["price"] == f"{price // 100}.{price % 100:02d}"
    assert data["offers"]["priceCurrency"] == "USD"
    assert f'<link rel="canonical" href="http://localhost/offers/{slug}">' in html


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/offers",
        "/offers?tag=R2",
        "/offers/r2-bucket-hat",
        "/account/sign-in",
        "/account/register",
        "/account/reset",
    ],
)
def test_each_page_has_its_own_title_description_and_social_tags(client, path):
    html = client.get(path).get_data(as_text=True)
    assert re.search(r"<title>[^<]{10,}</title>", html)
    assert re.search(r'<meta name="description" content="[^"]{20,}">', html)
    assert '<link rel="canonical" href="http://localhost/' in html
    for prop in ("og:title", "og:description", "og:url", "og:image", "og:type"):
        assert f'property="{prop}"' in html
    # The skip link is the first thing in the body.
    body = html.split("<body", 1)[1]
    assert body.index('class="skip-link"') < body.index("<header")


def test_titles_differ_between_pages(client):
    titles = {
        re.search(r"<title>(.*?)</title>", client.get(path).get_data(as_text=True))[1]
        for path in ["/", "/offers", "/offers?tag=R2", *[f"/offers/{s}" for s in SLUGS]]
    }
    assert len(titles) == 3 + len(SLUGS)


def test_offers_lists_all_and_filters_by_tag(client):
    html = client.get("/offers").get_data(as_text=True)
    assert html.count('class="offer-card"') == 4
    html = client.get("/offers?tag=R2").get_data(as_text=True)
    assert html.count('class="offer-card"') == 1
    assert "R2 Bucket Hat" in html
    assert 'aria-current="page">R2</a>' in html


def test_tag_filter_ignores_case_and_canonicalises(client):
    html = client.get("/offers?tag=websocket").get_data(as_text=True)
    assert html.count('class="offer-card"') == 1
    assert "Realtime WebSocket Sync Kit" in html
    assert '<link rel="canonical" href="http://localhost/offers?tag=WebSocket">' in html


@pytest.mark.parametrize(
    "path",
    ["/offers/nope", "/offers/R2-BUCKET-HAT", "/offers?tag=nope", "/offers?tag=", "/nowhere"],
)
def test_unknown_slug_or_tag_is_a_styled_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<h1" in html and "Skip to content" in html and 'class="site-header"' in html


def test_htmx_request_gets_the_error_as_a_fragment(client):
    response = client.get("/offers/nope", headers={"HX-Request": "true"})
    assert response.status_code == 404
    html = response.get_data(as_text=True)
    assert "<html" not in html and "Page not found" in html
    assert response.headers["HX-Retarget"] == "#status"


def test_sitemap_lists_pages_and_offers(client):
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    xml = response.get_data(as_text=True)
    locs = re.findall(r"<loc>(.*?)</loc>", xml)
    assert "http://localhost/" in locs and "http://localhost/offers" in locs
    for slug in SLUGS:
        assert f"http://localhost/offers/{slug}" in locs
    for page in ("terms", "refunds", "privacy", "contact"):
        assert f"http://localhost/{page}" in locs


def test_robots_points_to_the_sitemap(client):
    body = client.get("/robots.txt").get_data(as_text=True)
    assert "Sitemap: http://localhost/sitemap.xml" in body


def test_public_url_is_used_for_canonical_links(app):
    app.config["PUBLIC_URL"] = "https://shop.example"
    html = app.test_client().get("/offers/r2-bucket-hat").get_data(as_text=True)
    assert '<link rel="canonical" href="https://shop.example/offers/r2-bucket-hat">' in html


def test_healthz_answers_200_when_the_database_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"


def test_healthz_answers_503_when_the_database_does_not(tmp_path):
    from shop import create_app

    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": tmp_path,
            "SECRET_KEY": "x",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'missing-dir' / 'shop.sqlite3'}",
        }
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


@pytest.mark.parametrize("htmx", [False, True])
def test_an_unexpected_error_is_a_styled_500_without_a_traceback(app, htmx):
    def broken():
        raise RuntimeError("secret internals")

    app.add_url_rule("/test-broken", "test_broken", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/test-broken", headers={"HX-Request": "true"} if htmx else {})
    assert response.status_code == 500
    html = response.get_data(as_text=True)
    assert "Something went wrong" in html
    assert "secret internals" not in html and "Traceback" not in html
    assert ("<html" in html) is not htmx


@pytest.mark.parametrize(
    ("code", "title"), [(400, "Bad request"), (403, "Forbidden"), (413, "Request too large")]
)
def test_each_error_code_has_its_own_page(app, code, title):
    from flask import abort

    app.add_url_rule("/test-abort", "test_abort", lambda: abort(code))
    response = app.test_client().get("/test-abort")
    assert response.status_code == code
    assert f'<h1 id="error-title">{title}</h1>' in response.get_data(as_text=True)
