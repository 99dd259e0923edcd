"""Templates' url_for (shop/urls.py): each address built once, yet always the right one."""

from __future__ import annotations

from flask import url_for


def test_a_kept_address_is_the_one_url_for_builds(app):
    kept = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        for endpoint, values in [
            ("catalog.home", {}),
            ("catalog.show_offer", {"slug": "r2-bucket-hat"}),
            ("catalog.list_offers", {"tag": "R2 & D1"}),
            ("static", {"filename": "css/shop.css"}),
        ]:
            assert kept(endpoint, **values) == url_for(endpoint, **values)
            assert kept(endpoint, **values) == url_for(endpoint, **values)  # from the dict


def test_the_mount_path_and_the_host_are_never_taken_from_another_request(app):
    kept = app.jinja_env.globals["url_for"]
    with app.test_request_context("/", base_url="http://127.0.0.1/"):
        assert kept("catalog.home") == "/"
        assert kept("catalog.home", _external=True) == "http://127.0.0.1/"
    with app.test_request_context("/", base_url="http://localhost/shop/"):
        assert kept("catalog.home") == "/shop/"
        assert kept("catalog.home", _external=True) == "http://localhost/shop/"


def test_values_that_cannot_be_a_key_are_built_each_time(app):
    kept = app.jinja_env.globals["url_for"]
    with app.test_request_context("/"):
        assert kept("search.results", q=["a", "b"]) == url_for("search.results", q=["a", "b"])
