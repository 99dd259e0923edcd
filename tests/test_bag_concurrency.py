"""Concurrent clicks against gunicorn with four workers: no click lost, no 500."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from shop.catalog.services import DEFAULT_CATALOG
from tests.support.catalogue import DENIM, HAT, JACKET, KIT, offer_entry, write_catalogue
from tests.support.database import fresh_database
from tests.support.live import Browser, counters, gunicorn, log_text

EXTRA = [f"extra-{n}" for n in range(6)]  # offers of these tests' own, after the shop's
SLUGS = [JACKET, DENIM, KIT, HAT, *EXTRA]


class Tab(Browser):
    """One browser tab on the server, sending htmx's requests: its visitor's cookie and CSRF
    token are kept by ``tests.support.live.Browser``."""

    def __init__(self, base_url: str, cookie: str | None = None):
        super().__init__(cookie)
        self.base_url = base_url
        assert self.get(f"{base_url}/").status == 200

    def htmx_post(self, path: str, form: dict) -> int:
        headers = {"X-CSRFToken": self.csrf, "HX-Request": "true"}
        return self.request("POST", f"{self.base_url}{path}", form, headers=headers).status

    def add(self, slug: str) -> int:
        form = {"offer": slug, "quantity": "1", "token": secrets.token_urlsafe(16), "next": "/"}
        return self.htmx_post("/bag/add", form)

    def wish(self, slug: str) -> int:
        return self.htmx_post("/wishlist/toggle", {"offer": slug, "saved": "1"})

    def counters(self) -> tuple[int, int]:
        return counters(self, self.base_url)

    def lines(self) -> int:
        return self.get(f"{self.base_url}/bag").text.count('<li class="bag-line"')


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with four workers on a fresh database holding ten offers."""
    instance = tmp_path_factory.mktemp("concurrency")
    catalog = write_catalogue(
        instance / "offers.toml",
        [offer_entry(slug) for slug in EXTRA],
        after=DEFAULT_CATALOG.read_text(encoding="utf-8"),
    )
    with (
        fresh_database(instance, "_concurrency", catalog) as url,
        gunicorn(url, instance, 4) as base,
    ):
        yield base, instance


def _no_errors_logged(instance: Path) -> None:
    log = log_text(instance)
    assert "Traceback" not in log, log[-3000:]


def test_fifty_concurrent_adds_of_one_offer_end_at_the_cap(server):
    base_url, instance = server
    tab = Tab(base_url)
    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(lambda _: tab.add("r2-bucket-hat"), range(50)))
    assert len(statuses) == 50
    assert statuses.count(200) == 50, statuses
    assert tab.counters() == (10, 0)
    assert tab.lines() == 1
    _no_errors_logged(instance)


def test_ten_concurrent_adds_of_different_offers_make_ten_lines(server):
    base_url, instance = server
    tab = Tab(base_url)
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(tab.add, SLUGS))
    assert statuses == [200] * 10
    assert tab.lines() == 10
    assert tab.counters() == (10, 0)
    _no_errors_logged(instance)


def test_two_tabs_adding_to_bag_and_wishlist_at_once_lose_nothing(server):
    base_url, instance = server
    first = Tab(base_url)
    second = Tab(base_url, cookie=first.cookie)
    jobs = [lambda: first.add("durable-object-denim"), lambda: second.wish("r2-bucket-hat")] * 5
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda job: job(), jobs))
    assert statuses == [200] * 10
    assert first.counters() == (5, 1)
    assert second.counters() == (5, 1)
    _no_errors_logged(instance)
