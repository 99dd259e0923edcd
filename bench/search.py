"""Search benchmark: the search service against a naive LIKE '%…%' scan, at growing sizes.

Fills scratch databases through the real migrations with N generated offers, written like
the shop's own: a title of adjective, Cloudflare product and garment ("Durable R2 Jacket"),
two to five tags, a category, a description of noun phrases ("Review edge caches, signed
tokens and nightly backups so deploys stay boring."), a code line. The benchmark's words are
common on purpose: at 100,000 offers "queues" matches a fifth of them (``--detail`` prints
each query's matches). Then it times ``shop.search.services.search`` (ranked, counted, the
page's offers loaded with their tags: what a request does) for a fixed mix of one-word,
two-word, prefix and no-match queries, and beside it, over the same rows in the same run, a
naive scan: every word as ``LIKE '%word%'`` (``ILIKE`` on PostgreSQL) over the same fields,
unranked, in shelf order, with the same count and page.

    .venv/bin/python bench/search.py                      # 1,000 / 10,000 / 100,000
    .venv/bin/python bench/search.py --sizes 1000,10000   # smaller
    .venv/bin/python bench/search.py --pg postgresql+psycopg://postgres@127.0.0.1:5432/test

SQLite runs in a temporary directory. PostgreSQL runs when ``--pg`` or SHOP_BENCH_DATABASE_URL
names a database (``--no-pg`` skips it), in a scratch schema dropped afterwards. Not collected
by pytest (its test paths are tests/).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask
from sqlalchemy import insert, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import scratch  # noqa: E402
from shop.catalog.models import Offer, OfferTag  # noqa: E402
from shop.extensions import db  # noqa: E402
from shop.search.query import parse_query  # noqa: E402
from shop.search.services import search  # noqa: E402

QUERIES: dict[str, list[str]] = {
    "one word": ["durable", "websocket", "queues", "jacket", "r2"],
    "two words": ["durable jacket", "edge cache", "realtime sync", "image pipeline"],
    "prefix": ["dura", "web", "sync st", "obj", "repl"],
    "no match": ["zebra", "qwertyuiop", "durable zzzz"],
}
ROUNDS = 15
PAGE = 24


def words(block: str) -> list[str]:
    return block.split()


# Title words: an adjective or colour, a Cloudflare product, a garment (the shop's naming).
ADJECTIVES = words(
    """
Durable Realtime Edge Serverless Streaming Cached Regional Global Zero-Trust Queued Vector
Immutable Replicated Static Dynamic Hybrid Sharded Observable Resilient Secure Composable
Modular Event-Driven Stateful Stateless Latency-Aware Multi-Region Versioned Lightweight
Weatherproof Insulated Reversible Packable Breathable Waterproof Recycled Organic Vintage
Classic Essential Premium Tactical Compact Expedition Urban Alpine Coastal Midnight Sunrise
Indigo Copper Graphite Amber Signal Orbit Pixel Harbor Summit Canyon Glacier Ember Slate
"""
)
PLATFORM = [
    "Workers", "D1", "R2", "KV", "Queues", "Durable Object", "Pages", "Images", "Stream",
    "Hyperdrive", "Vectorize", "WebSocket", "Access", "Tunnel", "AI Gateway", "Workflows",
    "Analytics Engine", "Email Routing", "Turnstile", "Cache Reserve", "Load Balancer",
    "Browser Rendering", "Spectrum", "Magic Transit", "Argo", "Logpush", "Radar", "Registrar",
    "Smart Placement", "Containers", "Zaraz", "Calls",
]  # fmt: skip
GARMENTS = words(
    """
Jacket Denim Hat Kit Hoodie Scarf Boots Backpack Tee Cap Vest Gloves Socks Belt Apron Poncho
Sweater Parka Beanie Sneakers Overalls Blazer Tote Lanyard Windbreaker Cardigan Chinos Shorts
Sandals Loafers Raincoat Duffel Bomber Fleece Henley Polo Joggers Anorak Satchel Wallet
Umbrella Mittens Bandana Jumpsuit Gilet
"""
)
CATEGORIES = [
    "Edge architecture", "State architecture", "Realtime state", "Asset pipeline",
    "Security review", "Data platform", "Delivery path", "Observability", "Cost review",
    "Migration plan", "Identity and access", "Media pipeline", "API gateway", "AI inference",
    "Network design", "Compliance review", "Performance audit", "Disaster recovery",
]  # fmt: skip
TAGS = words(
    """
Workers D1 R2 KV queues deploys state sync sessions WebSocket sync-state realtime assets files
images cache routing auth zero-trust tunnels vectors ai gateway workflows analytics email
turnstile migrations schema replication sharding latency observability logs tracing budgets
billing uploads media streaming video edge regions failover backups secrets tokens rate-limits
bots waf ddos dns tls certificates pages static ssr hydration containers placement spectrum
argo logpush radar registrar zaraz calls webhooks cron durable-objects hyperdrive vectorize
"""
)
# Descriptions are built like the shop's own: "Review X, Y and Z so that W." Noun phrases
# pair a modifier with a noun, so a given word is in a few per cent of the offers.
VERBS = words(
    """
Design Plan Review Shape Map Untangle Harden Audit Sketch Stress-test Document Simplify
Sequence Model Profile Benchmark Migrate Refactor Scope Align Split Consolidate Secure
Instrument Tune Stage Prototype Validate Streamline Rehearse
"""
)
MODIFIERS = words(
    """
edge durable realtime regional cached signed versioned sharded batched streaming encrypted
generated derived idempotent eventual multi-tenant per-user per-region hot cold warm scheduled
nightly incremental partial global local private public internal external upstream downstream
legacy staged canary blue-green rolling stateful
"""
)
NOUNS = words(
    """
routing sessions queues uploads media files images deploys migrations schemas caches tokens
secrets keys certificates logs metrics traces alerts dashboards pipelines backups snapshots
replicas shards partitions locks transactions retries timeouts webhooks callbacks workflows
jobs crons budgets quotas limits policies roles permissions identities audits reports invoices
payments orders carts catalogues indexes embeddings prompts models inference gateways proxies
tunnels origins fanout projections
"""
)
OUTCOMES = [
    "the data model stays clean", "live interfaces stay responsive", "deploys stay boring",
    "content operations stay simple", "costs stay predictable", "incidents stay small",
    "the team knows who owns what", "latency stays low everywhere", "audits pass the first time",
    "releases can be rolled back", "nothing is lost on failover", "new regions are a config change",
    "support tickets drop", "the next engineer can follow it", "limits are hit gracefully",
]  # fmt: skip
NOTES = [
    "Edge decisions in order.", "State with ownership.", "Realtime state without noisy echoes.",
    "Images without sprawl.", "Queues that drain.", "Caches that stay honest.",
    "Deploys you can undo.", "Secrets that rotate.", "Logs worth reading.",
    "Budgets with alarms.", "Schemas that migrate.", "Tunnels without exposure.",
]  # fmt: skip


def _phrase(rng: random.Random) -> str:
    return f"{rng.choice(MODIFIERS)} {rng.choice(NOUNS)}"


def generate(count: int, seed: int = 7) -> Iterator[tuple[dict, list[str]]]:
    """``count`` offers (row values and tag names), the same for a given seed."""
    rng = random.Random(seed)
    for number in range(count):
        title = f"{rng.choice(ADJECTIVES)} {rng.choice(PLATFORM)} {rng.choice(GARMENTS)}"
        description = (
            f"{rng.choice(VERBS)} {_phrase(rng)}, {_phrase(rng)} and {_phrase(rng)} "
            f"so {rng.choice(OUTCOMES)}."
        )
        if rng.random() < 0.5:
            description += f" Includes {_phrase(rng)} and {_phrase(rng)}."
        yield (
            {
                "slug": f"offer-{number}",
                "position": number,
                "category": rng.choice(CATEGORIES),
                "title": title,
                "description": description,
                "code_file": f"{rng.choice(NOUNS)}.ts",
                "code_note": rng.choice(NOTES),
                "image": "img/edge-block.svg",
                "image_label": "Generated",
                "image_alt": f"A picture of the {title}.",
                "price_cents": rng.randrange(50_000, 900_000, 5_000),
                "currency": "USD",
                "active": rng.random() > 0.02,
            },
            rng.sample(TAGS, rng.randint(2, 5)),
        )


def fill(count: int) -> float:
    """Insert ``count`` generated offers and their tags; seconds.

    Bulk-loaded the way a big import would be: the offers arrive inactive (so the index
    triggers skip them while their tags are written), then one UPDATE makes them active and
    the triggers index each once.
    """
    started = time.perf_counter()
    offers, tags = [], []
    for row, names in generate(count):
        offers.append(dict(row, active=False, wanted=row["active"]))
        tags.append(names)
    chunk = 2_000
    session = db.session
    for start in range(0, count, chunk):
        rows = [
            {k: v for k, v in row.items() if k != "wanted"} for row in offers[start : start + chunk]
        ]
        session.execute(insert(Offer.__table__), rows)
    ids = dict(session.execute(select(Offer.slug, Offer.id)).all())
    tag_rows = [
        {"offer_id": ids[row["slug"]], "name": name, "key": name.lower(), "position": i}
        for row, names in zip(offers, tags, strict=True)
        for i, name in enumerate(names)
    ]
    for start in range(0, len(tag_rows), chunk):
        # One multi-row INSERT per chunk: PostgreSQL's statement trigger runs once for it.
        session.execute(insert(OfferTag.__table__).values(tag_rows[start : start + chunk]))
    inactive = [row["position"] for row in offers if not row["wanted"]]
    session.execute(text("UPDATE offers SET active = true"))
    if inactive:
        session.execute(update(Offer).where(Offer.position.in_(inactive)).values(active=False))
    session.commit()
    # The steady state autovacuum keeps: statistics for the planner, no dead rows.
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(
            text("VACUUM ANALYZE" if db.engine.dialect.name == "postgresql" else "ANALYZE")
        )
    return time.perf_counter() - started


def naive_scan(query: str) -> tuple[list[int], int]:
    """The LIKE '%word%' baseline: every word somewhere in the same fields (the tags through
    their table), unranked, in shelf order, with the count and the page's offers."""
    words = parse_query(query).words
    like = "ILIKE" if db.engine.dialect.name == "postgresql" else "LIKE"
    columns = ["title", "category", "description", "code_file", "code_note"]
    clauses, params = [], {}
    for index, word in enumerate(words):
        params[f"w{index}"] = f"%{word}%"
        fields = [f"{column} {like} :w{index}" for column in columns]
        fields.append(
            "EXISTS (SELECT 1 FROM offer_tags AS t WHERE t.offer_id = offers.id "
            f"AND t.name {like} :w{index})"
        )
        clauses.append("(" + " OR ".join(fields) + ")")
    where = " AND ".join(["active", *clauses])
    ids = list(
        db.session.scalars(
            text(f"SELECT id FROM offers WHERE {where} ORDER BY position, id LIMIT {PAGE}"),
            params,
        )
    )
    total = db.session.scalar(text(f"SELECT count(*) FROM offers WHERE {where}"), params)
    if ids:  # load the page's offers, as the service does
        list(db.session.scalars(select(Offer).where(Offer.id.in_(ids))))
    return ids, total


def timings(run: Callable[[str], object]) -> dict[str, list[float]]:
    """Milliseconds per query kind, each query run ROUNDS times after one warm-up."""
    found: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    for query in (q for qs in QUERIES.values() for q in qs):
        run(query)
        db.session.remove()
    for _ in range(ROUNDS):
        for kind, queries in QUERIES.items():
            for query in queries:
                started = time.perf_counter()
                run(query)
                found[kind].append((time.perf_counter() - started) * 1000)
                db.session.remove()  # what the end of a request does
    return found


@contextmanager
def scratch_app(backend: str, pg_url: str | None) -> Iterator[Flask]:
    """An app on an empty, migrated scratch database, its app context pushed."""
    with scratch.backend_app("search", backend, pg_url, TESTING=True) as app, app.app_context():
        yield app


def run(backends: list[str], sizes: list[int], pg_url: str | None, detail: bool) -> None:
    header = (
        f"| {'backend':<10} | {'offers':>7} | {'fill s':>6} | {'search p50':>10} | "
        f"{'search p95':>10} | {'LIKE p50':>8} | {'LIKE p95':>8} | {'p95 speed-up':>12} |"
    )
    rows = [header, "|" + "|".join("-" * (len(part)) for part in header.split("|")[1:-1]) + "|"]
    details = []
    for backend in backends:
        for size in sizes:
            with scratch_app(backend, pg_url):
                seconds = fill(size)
                ranked = timings(lambda q: search(q, limit=PAGE))
                scanned = timings(naive_scan)
                matches = {q: search(q, limit=0).total for qs in QUERIES.values() for q in qs}
            every = [v for vs in ranked.values() for v in vs]
            naive = [v for vs in scanned.values() for v in vs]
            s50, s95 = scratch.percentile(every, 0.5), scratch.percentile(every, 0.95)
            l50, l95 = scratch.percentile(naive, 0.5), scratch.percentile(naive, 0.95)
            rows.append(
                f"| {backend:<10} | {size:>7,} | {seconds:>6.1f} | {s50:>7.2f} ms | "
                f"{s95:>7.2f} ms | {l50:>5.1f} ms | {l95:>5.1f} ms | {l95 / s95:>11.1f}x |"
            )
            for kind in QUERIES:
                mine, theirs = ranked[kind], scanned[kind]
                details.append(
                    f"  {backend} {size:>7,} {kind:<9}  search p50 "
                    f"{scratch.percentile(mine, 0.5):7.2f} "
                    f"p95 {scratch.percentile(mine, 0.95):7.2f}"
                    f"  LIKE p50 {scratch.percentile(theirs, 0.5):7.1f}"
                    f" p95 {scratch.percentile(theirs, 0.95):7.1f} ms"
                )
            details.append(
                f"  {backend} {size:>7,} matches: "
                + ", ".join(f"{q} {n:,}" for q, n in matches.items())
            )
            print(rows[-1], flush=True)
    print()
    print("\n".join(rows))
    if detail:
        print("\nBy kind of query:")
        print("\n".join(details))
    mix = ", ".join(f"{kind}: {', '.join(qs)}" for kind, qs in QUERIES.items())
    print(f"\nQueries ({ROUNDS} rounds each, page of {PAGE}): {mix}")
    print(f"Python {sys.version.split()[0]}, SQLite {__import__('sqlite3').sqlite_version}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated counts")
    parser.add_argument("--pg", default=os.environ.get("SHOP_BENCH_DATABASE_URL"))
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--detail", action="store_true", help="also a line per kind of query")
    args = parser.parse_args()
    sizes = [int(part.replace("_", "")) for part in args.sizes.split(",") if part.strip()]
    backends = [] if args.no_sqlite else ["sqlite"]
    if args.pg and not args.no_pg:
        backends.append("postgresql")
    if not backends:
        parser.error("nothing to run")
    run(backends, sizes, args.pg, args.detail)


if __name__ == "__main__":
    main()
