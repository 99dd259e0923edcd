"""The trust pages: privacy notice, terms of sale, refunds and cancellation, contact and
imprint, rendered from Markdown with the studio's settings put in, and linked from every
page's footer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.shopper import Shopper

PAGES = {
    "/privacy": "Privacy notice",
    "/terms": "Terms of sale",
    "/refunds": "Refunds and cancellation",
    "/contact": "Contact and imprint",
}
FOOTER_LINKS = [
    ("/privacy", "Privacy"),
    ("/terms", "Terms"),
    ("/refunds", "Refunds"),
    ("/contact", "Contact"),
]


def html_of(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, path
    return response.get_data(as_text=True)


def main_of(html: str) -> str:
    return re.search(r'<main id="main"[^>]*>(.*)</main>', html, re.S)[1]


def footer_of(html: str) -> str:
    return re.search(r'<footer class="site-footer">(.*)</footer>', html, re.S)[1]


def override(app: Flask, name: str, text: str) -> Path:
    folder = Path(app.instance_path) / "pages"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("path", "title"), PAGES.items())
def test_each_page_renders_in_the_layout_with_one_heading_and_a_canonical_link(
    client: FlaskClient, path: str, title: str
):
    html = html_of(client, path)
    assert f"<title>{title} · Edge goods</title>" in html
    main = main_of(html)
    assert re.findall(r"<h1>(.*?)</h1>", main) == [title]
    assert main.count("<h2>") >= 1
    assert f'<link rel="canonical" href="http://localhost{path}">' in html
    assert re.search(r'<meta name="description" content="[^"]{20,}">', html)
    assert "/static/css/pages.css?v=" in html
    assert "style=" not in html and "<script>" not in main


def test_the_canonical_link_is_on_the_public_url(app: Flask, client: FlaskClient):
    app.config["PUBLIC_URL"] = "https://shop.example"
    html = html_of(client, "/terms")
    assert '<link rel="canonical" href="https://shop.example/terms">' in html


def test_the_shipped_texts_say_what_is_kept_and_how_to_ask_for_deletion(
    app: Flask, client: FlaskClient
):
    app.config["STUDIO_EMAIL"] = "privacy@studio.example"
    app.config["SESSION_LIFETIME_DAYS"] = 21
    privacy = main_of(html_of(client, "/privacy"))
    for words in (
        "password",
        "21 days without a visit",
        "up to ten years",
        "by IP address",
        "no tracking",
        "Stripe",
        "privacy@studio.example",
        "deleted",
    ):
        assert words in privacy, words
    refunds = main_of(html_of(client, "/refunds"))
    assert "Before the scoping call" in refunds and "full price back" in refunds
    assert "pro rata" in refunds


def test_the_studio_settings_appear_escaped(app: Flask, client: FlaskClient):
    app.config.update(
        STUDIO_NAME='<script>alert("name")</script> & *Co* [link](javascript:alert(1))',
        STUDIO_ADDRESS=["Hauptstraße 1", "<b>10115</b> Berlin", "# Germany"],
        STUDIO_EMAIL="hello@studio.example",
        STUDIO_VAT_ID="DE123456789",
        STUDIO_REGISTER="HRB 12345 B, Amtsgericht Charlottenburg",
    )
    main = main_of(html_of(client, "/contact"))
    assert "<script>" not in main and "<b>" not in main and "<em>" not in main
    assert "javascript:" not in main.replace("(javascript:alert(1))", "")
    assert "href=" not in main.split("<h2>")[0]  # no link came from a setting
    assert (
        "<strong>&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; &amp; *Co* "
        "[link](javascript:alert(1))</strong><br />" in main
    )
    assert "Hauptstraße 1<br />\n&lt;b&gt;10115&lt;/b&gt; Berlin<br />\n# Germany</p>" in main
    for value in ("hello@studio.example", "DE123456789", "HRB 12345 B, Amtsgericht Charlottenburg"):
        assert value in main
    # The same value in a page's title and description comes through once escaped.
    assert "[Studio name]" not in html_of(client, "/terms")


def test_the_address_may_be_one_text_with_line_breaks(app: Flask, client: FlaskClient):
    app.config["STUDIO_ADDRESS"] = "Hauptstraße 1\n10115 Berlin"
    assert "Hauptstraße 1<br />\n10115 Berlin</p>" in main_of(html_of(client, "/contact"))


def test_the_defaults_are_obviously_to_be_filled_in(client: FlaskClient):
    main = main_of(html_of(client, "/contact"))
    for placeholder in ("[Studio name]", "[Street and number]", "[contact email address]"):
        assert placeholder in main


def test_an_instance_copy_wins_over_the_shipped_text(app: Flask, client: FlaskClient):
    override(app, "terms", "# Our terms\n\nEverything by {studio_name}; {unknown} stays.\n")
    app.config["STUDIO_NAME"] = "Studio Nord"
    main = main_of(html_of(client, "/terms"))
    assert re.findall(r"<h1>(.*?)</h1>", main) == ["Our terms"]
    assert "Everything by Studio Nord; {unknown} stays." in main
    assert "<title>Our terms · Edge goods</title>" in html_of(client, "/terms")
    # The other pages keep their shipped text.
    assert "Refunds and cancellation" in main_of(html_of(client, "/refunds"))


def test_a_text_without_a_heading_gets_the_page_title_as_its_heading(
    app: Flask, client: FlaskClient
):
    override(app, "refunds", "Write to us.\n\n## Details\n\nNone.\n")
    main = main_of(html_of(client, "/refunds"))
    assert re.findall(r"<h1>(.*?)</h1>", main) == ["Refunds and cancellation"]
    assert "<p>Write to us.</p>" in main


def test_raw_html_in_the_markdown_is_shown_as_text(app: Flask, client: FlaskClient):
    override(
        app,
        "privacy",
        "# Privacy\n\n<script>alert(1)</script>\n\n"
        'Inline <img src="x" onerror="alert(2)"> and <a href="https://evil.example">a</a>.\n\n'
        '<div style="color: red">block</div>\n\n'
        "[click](javascript:alert(3)) and [fine](https://example.com/page)\n",
    )
    main = main_of(html_of(client, "/privacy"))
    assert "<script>" not in main and "<img" not in main and "<div" not in main
    assert 'style="' not in main and 'href="https://evil.example"' not in main
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in main
    assert "&lt;img src=&quot;x&quot; onerror=&quot;alert(2)&quot;&gt;" in main
    assert 'href="javascript:' not in main
    assert '<a href="https://example.com/page">fine</a>' in main


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/", 200),
        ("/offers", 200),
        ("/offers/r2-bucket-hat", 200),
        ("/search?q=r2", 200),
        ("/bag", 200),
        ("/wishlist", 200),
        ("/checkout", 200),
        ("/account/sign-in", 200),
        ("/account/register", 200),
        ("/account/reset", 200),
        ("/offers/nope", 404),
        *((path, 200) for path in PAGES),
    ],
)
def test_every_page_links_the_four_pages_in_its_footer(client: FlaskClient, path: str, status):
    if path == "/checkout":
        Shopper(client).add("r2-bucket-hat")  # an empty bag's checkout sends to the bag
    footer = footer_of(html_of(client, path, status))
    for href, text in FOOTER_LINKS:
        assert f'<a href="{href}">{text}</a>' in footer, (path, href)
