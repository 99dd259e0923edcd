"""The shop's one wall clock (DESIGN.md: a clock that tests can move).

Services, the session store and the mail ask :func:`now` the time, in UTC; a test moves it
with :func:`moved`, and everything that reads it moves together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_offset = timedelta(0)


def now() -> datetime:
    """The current time, timezone-aware, in UTC (moved by :func:`moved` in tests)."""
    return datetime.now(UTC) + _offset


@contextmanager
def moved(by: timedelta) -> Iterator[None]:
    """For the block, the clock runs ``by`` ahead (or behind); then it is back."""
    global _offset
    before = _offset
    _offset = before + by
    try:
        yield
    finally:
        _offset = before
