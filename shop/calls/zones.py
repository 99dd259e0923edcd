"""Time zones: the studio's (a setting, checked at start) and the ones a buyer may choose."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

# IANA names as a browser reports them: Area/Location, letters, digits, "_", "-", "+".
_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")
_LISTED_AREAS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


@cache
def zone_named(name: str) -> ZoneInfo | None:
    """The zone with this IANA name, or None for anything that is not one."""
    if not isinstance(name, str) or len(name) > 64 or not _NAME_RE.match(name):
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def studio_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The studio's zone (``STUDIO_TIMEZONE``); a name that is no zone stops the start."""
    name = config.get("STUDIO_TIMEZONE") or "Europe/Berlin"
    zone = zone_named(str(name))
    if zone is None:
        raise ValueError(
            f"SHOP_STUDIO_TIMEZONE must be an IANA time zone such as Europe/Berlin; got {name!r}"
        )
    return zone


@cache
def listed_zones() -> tuple[str, ...]:
    """The zones a buyer chooses from: the IANA names of places (plus UTC), sorted."""
    names = {name for name in available_timezones() if name.startswith(_LISTED_AREAS)}
    return ("UTC", *sorted(names))
