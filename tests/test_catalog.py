"""The catalogue file and its loader."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from shop.catalog.models import Offer, OfferTag
from shop.catalog.services import DEFAULT_CATALOG, CatalogError, load_catalog, parse_catalog
from shop.extensions import db

GOOD = DEFAULT_CATALOG.read_text(encoding="utf-8")


def snapshot(app):
    with app.app_context():
        offers = db.session.execute(
            select(
                Offer.slug, Offer.title, Offer.price_cents, Offer.position, Offer.active
            ).order_by(Offer.slug)
        ).all()
        tags = db.session.execute(
            select(OfferTag.offer_id, OfferTag.name, OfferTag.position).order_by(
                OfferTag.offer_id, OfferTag.position
            )
        ).all()
        db.session.rollback()
        return offers, tags


def test_packaged_catalogue_has_four_priced_offers():
    offers = parse_catalog(GOOD)
    assert [o.title for o in offers] == [
        "Cloudflare Five-Me-Flare Jacket",
        "Durable Object Denim",
        "Realtime WebSocket Sync Kit",
        "R2 Bucket Hat",
    ]
    assert all(o.currency == "USD" and 150_000 <= o.price_cents <= 500_000 for o in offers)
    assert offers[0].code_file == "worker.ts" and offers[0].code_note == "Edge decisions in order."
    for offer in offers:
        assert (Path(__file__).parent.parent / "static" / offer.image).exists()


def test_load_twice_gives_the_same_result(app, runner):
    before = snapshot(app)
    result = runner.invoke(args=["catalog", "load"])
    assert result.exit_code == 0, result.output
    assert "0 created, 4 updated" in result.output
    assert snapshot(app) == before
    assert len(before[0]) == 4 and len(before[1]) == 12


def test_load_upserts_by_slug(app, runner, tmp_path):
    changed = GOOD.replace("price_cents = 180000", "price_cents = 190000").replace(
        'tags = ["R2", "assets", "files"]', 'tags = ["R2", "media"]'
    )
    changed += """
[[offers]]
slug = "queue-scarf"
category = "Queues"
title = "Queue Scarf"
description = "Review queue consumers, retries and dead letters."
code_file = "queue.ts"
code_note = "Retries with a reason."
tags = ["queues"]
image = "img/edge-block.svg"
image_label = "Queues"
image_alt = "A navy scarf."
price_cents = 150000
"""
    path = tmp_path / "offers.toml"
    path.write_text(changed)
    result = runner.invoke(args=["catalog", "load", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 created, 4 updated" in result.output
    with app.app_context():
        hat = db.session.scalar(select(Offer).where(Offer.slug == "r2-bucket-hat"))
        assert hat.price_cents == 190000
        assert hat.tag_names == ["R2", "media"]
        assert db.session.scalar(select(Offer).where(Offer.slug == "queue-scarf")).currency == "USD"


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("price_cents = 320000", 'price_cents = "3200"', "price_cents", "whole number"),
        ("price_cents = 320000", "price_cents = -5", "price_cents", "between"),
        ("price_cents = 320000", "price_cents = 3200.5", "price_cents", "whole number"),
        ('slug = "durable-object-denim"', 'slug = "Durable Denim"', "slug", "lower-case"),
        ('slug = "durable-object-denim"', 'slug = "five-me-flare-jacket"', "slug", "already used"),
        (
            'currency = "USD"\n\n[[offers]]\nslug = "realtime',
            'currency = "usd"\n\n[[offers]]\nslug = "realtime',
            "currency",
            "three-letter",
        ),
        ('tags = ["state", "sync", "sessions"]', "tags = []", "tags", "at least one"),
        ('tags = ["state", "sync", "sessions"]', 'tags = ["state", "State"]', "tags", "twice"),
        ('image = "img/denim-stack.svg"', 'image = "../../etc/passwd"', "image", "picture"),
        ('title = "Durable Object Denim"', 'title = ""', "title", "non-empty"),
        (
            'title = "Durable Object Denim"',
            'titel = "Durable Object Denim"',
            "titel",
            "unknown field",
        ),
    ],
)
def test_malformed_file_is_refused_with_line_and_field_and_nothing_changes(
    app, runner, tmp_path, old, new, field, fragment
):
    assert old in GOOD
    bad = GOOD.replace(old, new, 1)
    path = tmp_path / "offers.toml"
    path.write_text(bad)
    before = snapshot(app)
    result = runner.invoke(args=["catalog", "load", str(path)])
    assert result.exit_code != 0
    assert f"field '{field}'" in result.output
    assert fragment in result.output
    line = GOOD[: GOOD.index(old)].count("\n") + 1  # where the broken line stands
    assert f"{path}:{line}:" in result.output
    assert "nothing changed" in result.output
    assert snapshot(app) == before


def test_missing_field_names_the_offer_table_line(tmp_path):
    bad = GOOD.replace('code_note = "Images without sprawl."\n', "")
    with pytest.raises(CatalogError) as error:
        parse_catalog(bad, "offers.toml")
    header = _line_of(bad, 'slug = "r2-bucket-hat"') - 1
    assert f"offers.toml:{header}:" in str(error.value)
    assert "'code_note': is missing" in str(error.value)


def test_invalid_toml_is_refused_with_its_line(app, runner, tmp_path):
    path = tmp_path / "offers.toml"
    path.write_text(GOOD.replace('title = "R2 Bucket Hat"', 'title = "R2 Bucket Hat'))
    before = snapshot(app)
    result = runner.invoke(args=["catalog", "load", str(path)])
    assert result.exit_code != 0
    assert "not valid TOML" in result.output and "line" in result.output
    assert snapshot(app) == before


def test_non_utf8_file_is_refused(app, runner, tmp_path):
    path = tmp_path / "offers.toml"
    path.write_bytes(b"\xff\xfe" + GOOD.encode())
    result = runner.invoke(args=["catalog", "load", str(path)])
    assert result.exit_code != 0
    assert "not UTF-8" in result.output


def test_inactive_offer_leaves_the_shelf(app, client, tmp_path):
    path = tmp_path / "offers.toml"
    path.write_text(GOOD.replace('currency = "USD"', 'currency = "USD"\nactive = false', 1))
    with app.app_context():
        load_catalog(path)
    assert client.get("/offers/five-me-flare-jacket").status_code == 404
    assert "3 Cloudflare offers" in client.get("/").get_data(as_text=True)
