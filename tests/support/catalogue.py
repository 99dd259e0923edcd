"""The catalogue in tests: the shop's own offers by slug."""

from __future__ import annotations

# The offers of shop/catalog/offers.toml, as the tests name them.
JACKET = "five-me-flare-jacket"
DENIM = "durable-object-denim"
KIT = "realtime-websocket-sync-kit"
HAT = "r2-bucket-hat"
