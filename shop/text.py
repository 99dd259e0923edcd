"""Cleaning text people typed, for storing, showing and searching (no Flask here: services
and forms use it alike)."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters (tab, newline and friends included) and unpaired surrogates.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_block(value: str | None) -> str:
    """A block of text: line breaks kept, other control characters out, trimmed."""
    if not value:
        return ""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]", " ", value)
    return value.strip()


def clean_text(value: str | None, limit: int) -> str:
    """A query value made safe to show and to search: no control characters, trimmed, cut.

    NUL and other control characters cannot be stored in PostgreSQL text and never mean
    anything in a search box; they become spaces.
    """
    if not value:
        return ""
    value = unicodedata.normalize("NFC", _CONTROL_RE.sub(" ", value))
    return " ".join(value.split())[:limit]
