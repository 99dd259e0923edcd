"""Counted attempts: limits taken before an action and given back when it did not count.

Flask-Limiter's decorators either count every request, or test first and count after the
answer (``deduct_when``), which lets a burst of simultaneous requests through together.
Where only some outcomes should count (a wrong password, an order placed) and the limit
must hold under a burst, the count is taken first, atomically, and given back when the
outcome does not count. This uses the ``limits`` strategy and storage Flask-Limiter is
configured with (``RATELIMIT_STORAGE_URI``: the workers of one machine share it, Redis
shares it between machines) with keys of its own.

A rule is a pair: the name of a setting holding limits ("5 per minute;30 per day") and the
key of what is counted. Given-back counts assume fixed windows, the shop's strategy: at
worst, across a window's end, the next window starts one lower.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator

from flask import current_app
from limits import RateLimitItem, parse_many

from shop.extensions import limiter

Rule = tuple[str, str]  # (setting, key)


def _items(rules: Iterable[Rule]) -> Iterator[tuple[RateLimitItem, str]]:
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    for setting, key in rules:
        for item in parse_many(current_app.config[setting]):
            yield item, f"{prefix}{key}"


def _seconds(until: float) -> int:
    return max(1, math.ceil(until - time.time()))


def take(rules: Iterable[Rule]) -> int | None:
    """Count one attempt under every rule. None: it is counted; a number: a limit is reached,
    nothing is counted, and that many seconds must pass."""
    strategy = limiter.limiter
    taken: list[tuple[RateLimitItem, str]] = []
    until = 0.0
    for item, key in _items(rules):
        taken.append((item, key))
        if not strategy.hit(item, key):
            until = max(until, strategy.get_window_stats(item, key).reset_time)
    if not until:
        return None
    for item, key in taken:
        _uncount(item, key)
    return _seconds(until)


def give_back(rules: Iterable[Rule]) -> None:
    """Take back an attempt counted by :func:`take` that turned out not to count."""
    for item, key in _items(rules):
        _uncount(item, key)


def count(rules: Iterable[Rule]) -> None:
    """Count an attempt after the fact."""
    strategy = limiter.limiter
    for item, key in _items(rules):
        strategy.hit(item, key)


def wait(rules: Iterable[Rule]) -> int | None:
    """Seconds until another attempt is allowed under these rules; None: it is now."""
    strategy = limiter.limiter
    until = 0.0
    for item, key in _items(rules):
        stats = strategy.get_window_stats(item, key)
        if stats.remaining <= 0:
            until = max(until, stats.reset_time)
    return _seconds(until) if until else None


def used(rules: Iterable[Rule]) -> bool:
    """Whether anything is counted under these rules in their current windows."""
    strategy = limiter.limiter
    return any(
        strategy.get_window_stats(item, key).remaining < item.amount for item, key in _items(rules)
    )


def _uncount(item: RateLimitItem, key: str) -> None:
    limiter.storage.incr(item.key_for(key), item.get_expiry(), amount=-1)
