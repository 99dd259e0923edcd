"""Whatever a person or a script sends: a clear 4xx page, never a 500."""

from __future__ import annotations

import pytest

from tests.support.forms import csrf_token_of

BAD_GETS = [
    ("/offers/nope", 404),
    ("/offers/%ff%fe", 404),
    ("/offers/%ed%a0%80", 404),  # a lone surrogate's UTF-8 bytes
    ("/offers/%00", 404),
    ("/offers/" + "a" * 3000, 404),
    ("/offers?tag=%ff", 404),
    ("/offers?tag=%ed%a0%80", 404),
    ("/offers?tag=' OR 1=1 --", 404),
    ("/offers?tag=%25", 404),
    ("/offers?tag=" + "R" * 1500, 404),
    ("/offers?" + "x=1&" * 17_000, 414),
    ("/?q=" + "a" * 70_000, 414),
    ("/static/../shop/config.py", 404),
    ("/static/css/nope.css", 404),
]


@pytest.mark.parametrize(("path", "status"), BAD_GETS)
def test_bad_get_gets_a_clear_4xx_page(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "Traceback" not in html
    assert 'error-page"' in html


@pytest.mark.parametrize("query", ["tag=R2%00%0a", "tag=%00R2", "tag=%20r2%09"])
def test_control_characters_and_spaces_around_a_tag_are_ignored(client, query):
    assert client.get(f"/offers?{query}").status_code == 200


def test_raw_non_utf8_path_bytes(client):
    response = client.get(environ_overrides={"PATH_INFO": "/offers/\xff\xfe"})
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/"), ("PUT", "/offers"), ("DELETE", "/offers/r2-bucket-hat"), ("PATCH", "/healthz")],
)
def test_method_not_allowed_is_a_405_page_with_allow(client, method, path):
    token = csrf_token_of(client, "/")
    response = client.open(path, method=method, headers={"X-CSRFToken": token})
    assert response.status_code == 405
    assert "GET" in response.headers["Allow"]
    assert "Method not allowed" in response.get_data(as_text=True)


def test_bad_input_changes_nothing(client, app):
    from sqlalchemy import func, select

    from shop.catalog.models import Offer
    from shop.extensions import db

    for path, _ in BAD_GETS:
        client.get(path)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 4


def _int_routes(app) -> list[tuple[str, str, list[str]]]:
    """(rule, method, int arguments) of every route with an ``<int:...>`` part."""
    found = []
    for rule in app.url_map.iter_rules():
        names = [name for name, conv in rule._converters.items() if conv.regex == r"\d+"]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            if names:
                found.append((rule.rule, method, names))
    return found


@pytest.mark.parametrize("number", ["9223372036854775808", "18446744073709551616", "-1"])
def test_every_int_route_refuses_numbers_out_of_range(app, client, number):
    """2^63, 2^64 and -1 in any ``<int:...>`` part: a 4xx, never an overflow into the
    database (whose integers have 64 bits)."""
    from tests.support.shopper import Shopper

    shopper = Shopper(client)
    shopper.add("r2-bucket-hat")  # a visitor with a stored session and a bag line
    routes = _int_routes(app)
    assert routes, "the shop has routes with <int:...> parts"
    for rule, method, names in routes:
        path = rule
        for name in names:
            path = path.replace(f"<int:{name}>", number)
        data = {"quantity": "2", "csrf_token": shopper.csrf}
        response = client.open(path, method=method, data=data if method == "POST" else None)
        assert 400 <= response.status_code < 500, (path, method, response.status_code)
        assert "Traceback" not in response.get_data(as_text=True)
