"""Failed sign-ins, counted so that guessing is slow and the rightful owner is not locked out.

Three counts of *failures* (a wrong password or an unknown address), in the rate limits'
storage (``RATELIMIT_STORAGE_URI``: shared by the workers of a machine, or by several
machines through Redis):

* per client and address typed (``RATELIMIT_SIGN_IN_EMAIL``): one client guessing one
  account's password;
* per client (``RATELIMIT_SIGN_IN``): one client trying many accounts;
* per address over every client (``RATELIMIT_SIGN_IN_EMAIL_CEILING``, much looser): many
  clients guessing one account. It stops only clients that have themselves failed for that
  address, so a round of wrong guesses from elsewhere never keeps the owner, typing the
  right password on their own device, out.

A successful sign-in counts nothing. Flask-Limiter's decorators count every request, or
test first and count after the answer (which lets a burst of simultaneous guesses through);
these rules need counts that are taken first and given back, and a limit that applies to
some clients only, so they use the ``limits`` strategy Flask-Limiter itself is built on.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

from flask import current_app
from limits import RateLimitItem, parse_many

from shop.extensions import limiter


def _items(setting: str) -> list[RateLimitItem]:
    return parse_many(current_app.config[setting])


def _counters(email: str, client: str) -> Iterator[tuple[str, RateLimitItem, str]]:
    """(which, limit, key) of the three counts of one sign-in."""
    prefix = current_app.config.get("RATELIMIT_KEY_PREFIX") or ""
    keys = {
        "pair": f"{prefix}sign-in-failures/pair/{client}/{email}",
        "client": f"{prefix}sign-in-failures/client/{client}",
        "ceiling": f"{prefix}sign-in-failures/email/{email}",
    }
    settings = {
        "pair": "RATELIMIT_SIGN_IN_EMAIL",
        "client": "RATELIMIT_SIGN_IN",
        "ceiling": "RATELIMIT_SIGN_IN_EMAIL_CEILING",
    }
    for which, setting in settings.items():
        for item in _items(setting):
            yield which, item, keys[which]


def begin(email: str, client: str) -> int | None:
    """Count a sign-in attempt of ``client`` as ``email`` before the password is checked.

    Returns the seconds until the client may try again when a limit is reached (nothing is
    counted then), or None: the attempt counts until :func:`end` says how it went. Counting
    first is what keeps the limits exact when a client sends many attempts at once.
    """
    strategy = limiter.limiter
    counted: list[tuple[RateLimitItem, str]] = []
    blocked_until = 0.0
    failed_here = False
    for which, item, key in _counters(email, client):
        if which == "ceiling":
            # Only for clients that failed for this address themselves: the owner's own
            # device is not held back by others' guesses.
            stats = strategy.get_window_stats(item, key)
            if failed_here and stats.remaining <= 0:
                blocked_until = max(blocked_until, stats.reset_time)
            continue
        if which == "pair" and strategy.get_window_stats(item, key).remaining < item.amount:
            failed_here = True
        counted.append((item, key))
        if not strategy.hit(item, key):
            blocked_until = max(blocked_until, strategy.get_window_stats(item, key).reset_time)
    if not blocked_until:
        return None
    for item, key in counted:
        _uncount(item, key)  # a refused attempt costs nothing more than the wait
    return max(1, math.ceil(blocked_until - time.time()))


def end(email: str, client: str, *, failed: bool) -> None:
    """Say how a counted attempt went: a failure also counts towards the address's ceiling;
    anything else (signed in, or no password checked at all) is not counted after all."""
    strategy = limiter.limiter
    for which, item, key in _counters(email, client):
        if which == "ceiling":
            if failed:
                strategy.hit(item, key)
        elif not failed:
            _uncount(item, key)


def _uncount(item: RateLimitItem, key: str) -> None:
    # A fixed window's counter taken back by one (the strategy the shop configures); at
    # worst, across a window's end, the next window starts one attempt lower.
    limiter.storage.incr(item.key_for(key), item.get_expiry(), amount=-1)
