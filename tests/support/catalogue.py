"""The catalogue in tests: the shop's own offers by slug, and offers of the tests' own
written to a catalogue file (TOML) that ``load_catalog`` or a fresh database loads."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

# The offers of shop/catalog/offers.toml, as the tests name them.
JACKET = "five-me-flare-jacket"
DENIM = "durable-object-denim"
KIT = "realtime-websocket-sync-kit"
HAT = "r2-bucket-hat"


def offer_entry(slug: str, **fields) -> dict:
    """A plain offer of the catalogue file, with ``fields`` instead of the defaults."""
    entry = {
        "slug": slug,
        "category": "Plain work",
        "title": f"Plain review {slug.split('-')[-1]}",
        "description": "A plain review of the system design for a team.",
        "code_file": "plain.ts",
        "code_note": "Plain notes.",
        "tags": ["plain"],
        "image": "img/edge-block.svg",
        "image_label": "Plain",
        "image_alt": "A plain picture.",
        "price_cents": 100_000,
    }
    entry.update(fields)
    return entry


def write_catalogue(path: Path, entries: Iterable[dict], *, after: str = "") -> Path:
    """Write the offers ``entries`` as a catalogue file at ``path``, following the catalogue
    text ``after`` (such as the shop's own file); returns the path. JSON strings and lists
    are TOML strings and arrays."""
    lines = []
    for entry in entries:
        lines.append("[[offers]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in entry.items()]
    head = after.rstrip("\n") + "\n\n" if after else ""
    path.write_text(head + "\n".join(lines) + "\n", encoding="utf-8")
    return path
