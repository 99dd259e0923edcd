"""The choices of the checkout's context questions, stored on orders by their keys.

Kept here, below both the checkout form and the order pages, so the two agree on them.
"""

from __future__ import annotations

HOSTING = (
    ("aws", "AWS"),
    ("gcp", "Google Cloud"),
    ("azure", "Microsoft Azure"),
    ("vercel", "Vercel"),
    ("netlify", "Netlify"),
    ("heroku", "Heroku"),
    ("digitalocean", "DigitalOcean"),
    ("fly", "Fly.io"),
    ("render", "Render"),
    ("cloudflare", "Cloudflare already"),
    ("own", "Own servers or on-premises"),
    ("other", "Other"),
)
TRAFFIC_UNITS = (
    ("per_second", "requests per second"),
    ("per_month", "requests per month"),
)
COMPLIANCE = (
    ("gdpr", "GDPR"),
    ("hipaa", "HIPAA"),
    ("pci", "PCI DSS"),
    ("soc2", "SOC 2"),
    ("residency", "Data residency"),
    ("none", "None"),
)
CLOUDFLARE = (
    ("workers", "Workers"),
    ("pages", "Pages"),
    ("durable_objects", "Durable Objects"),
    ("d1", "D1"),
    ("kv", "KV"),
    ("r2", "R2"),
    ("queues", "Queues"),
    ("images", "Images"),
    ("stream", "Stream"),
    ("realtime", "Realtime / WebSockets"),
    ("none", "None yet"),
)

LABELS = {
    "hosting": dict(HOSTING),
    "traffic_unit": dict(TRAFFIC_UNITS),
    "compliance": dict(COMPLIANCE),
    "cloudflare": dict(CLOUDFLARE),
}
