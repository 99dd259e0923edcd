"""Page weight: what a first visit to each main page downloads, compressed as served.

Each page is opened in a fresh browser context (an empty cache), scrolled to the end so
lazy images load too, and every response's encoded body size is summed by kind. Budgets:
the home page under 60 KB in all, JavaScript under 20 KB on every page, and no request to
any other origin.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Response

from tests.support.browser import DESKTOP
from tests.support.forms import csrf_token

KB = 1000
HOME_BUDGET = 60 * KB
SCRIPT_BUDGET = 20 * KB
PAGES = {
    "home": "/",
    "offer": "/offers/r2-bucket-hat",
    "search": "/search?q=sync",
    "bag": "/bag",
    "checkout": "/checkout",
}


def _kind(response: Response) -> str:
    resource = response.request.resource_type
    return {"document": "html", "stylesheet": "css", "script": "js", "image": "image"}.get(
        resource, resource
    )


def _fill_bag(page: Page) -> None:
    """Put an offer in the bag without loading any page's assets (the cache stays empty)."""
    html = page.request.get("/").text()
    token = csrf_token(html)
    answer = page.request.post(
        "/bag/add",
        form={
            "offer": "r2-bucket-hat",
            "quantity": "1",
            "next": "/",
            "token": secrets.token_urlsafe(16),
        },
        headers={"X-CSRFToken": token},
        max_redirects=0,
    )
    assert answer.status == 303


def first_visit(new_page: Callable[..., Page], live_server: str, path: str) -> dict[str, int]:
    """Bytes per kind of resource downloaded by a first visit to ``path``."""
    page = new_page(DESKTOP)
    if path in {"/bag", "/checkout"}:
        _fill_bag(page)
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    page.goto(path, wait_until="load")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    origin = urlsplit(live_server)
    sizes: dict[str, int] = defaultdict(int)
    for response in responses:
        url = urlsplit(response.url)
        assert url.scheme in {"http", "data"}, response.url
        if url.scheme == "data":
            continue
        assert (url.hostname, url.port) == (origin.hostname, origin.port), (
            f"{path} asked another origin: {response.url}"
        )
        assert response.status < 400, f"{response.url} answered {response.status}"
        sizes[_kind(response)] += response.request.sizes()["responseBodySize"]
    assert sizes["html"] > 0, f"{path} downloaded no document"
    return dict(sizes)


@pytest.mark.parametrize("name", list(PAGES))
def test_a_first_visit_stays_within_its_budget(new_page, live_server, name):
    sizes = first_visit(new_page, live_server, PAGES[name])
    total = sum(sizes.values())
    print(
        f"{name}: {total / KB:.1f} KB in all, "
        + ", ".join(f"{kind} {size / KB:.1f} KB" for kind, size in sorted(sizes.items()))
    )
    assert sizes.get("js", 0) < SCRIPT_BUDGET, sizes
    if name == "home":
        assert total < HOME_BUDGET, sizes


def test_pages_are_served_compressed(new_page, live_server):
    page = new_page(DESKTOP)
    encodings = {}

    def record(response: Response) -> None:
        if response.request.resource_type in {"document", "stylesheet", "script"}:
            encodings[response.url] = response.headers.get("content-encoding")

    page.on("response", record)
    page.goto("/", wait_until="load")
    # Pages as gzip; static files as the browser prefers (Flask-Compress picks zstd or br).
    assert encodings and all(value in {"gzip", "br", "zstd"} for value in encodings.values()), (
        encodings
    )
