"""A visitor's query as the engines see it, and where its words appear in shown text.

Pure functions over strings: no database, no Flask, no markup. Both engines see the same
words: the query is cleaned and cut at ``MAX_QUERY_LENGTH`` characters, its accents are
removed (NFKD, then the combining marks), and it is split into words of letters and digits.
Everything else — quotes, ``*``, ``-``, ``:``, parentheses, ``NEAR``, ``AND``/``OR``/``NOT``
— is a separator or a quoted word, never syntax: each word goes to the engine as a quoted
string (FTS5) or a quoted lexeme (tsquery), with only the last one marked as a prefix.
Every word must match.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from shop.text import clean_text

MAX_QUERY_LENGTH = 100
# Combining marks removed by accent folding. Keep in step with migration 0002, which folds
# the PostgreSQL index with the same ranges (SQLite's remove_diacritics does its own).
MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"

_MARKS_RE = re.compile(f"[{MARKS}]")
_WORD_RE = re.compile(r"[^\W_]+")
# A word as it appears in shown text: letters, digits and the marks that sit on them.
_TEXT_WORD_RE = re.compile(rf"(?:[^\W_]|[{MARKS}])+")


def strip_accents(value: str) -> str:
    """The text in compatibility-decomposed form without its combining marks ("é" → "e")."""
    return _MARKS_RE.sub("", unicodedata.normalize("NFKD", value))


def fold(value: str) -> str:
    """Accents removed and case folded: how two words are compared for highlighting."""
    return strip_accents(value).casefold()


@dataclass(frozen=True)
class Query:
    """A visitor's query, cleaned and split into the words the engines look for."""

    text: str
    words: tuple[str, ...]

    @property
    def exact_terms(self) -> frozenset[str]:
        """Folded words that must match whole (every word but the last)."""
        return frozenset(fold(word) for word in self.words[:-1])

    @property
    def prefix_term(self) -> str | None:
        """The folded last word, which matches as a prefix."""
        return fold(self.words[-1]) if self.words else None

    @property
    def tag_keys(self) -> list[str]:
        """The query as a tag key, plain and without accents."""
        return sorted({self.text.lower(), strip_accents(self.text).lower()})


def parse_query(raw: str | None) -> Query:
    """Clean ``raw`` (control characters out, white space folded, cut at 100 characters)
    and split it into accent-free words of letters and digits; case is left to the engines."""
    cleaned = clean_text(raw, MAX_QUERY_LENGTH)
    return Query(text=cleaned, words=tuple(_WORD_RE.findall(strip_accents(cleaned))))


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: each word a quoted string, the last one a prefix."""
    quoted = ['"' + word.replace('"', '""') + '"' for word in words]
    return " ".join(quoted) + "*"


def tsquery(words: Sequence[str], weights: str = "") -> str:
    """A tsquery text: each word a quoted lexeme joined with ``&``, the last one a prefix;
    ``weights`` (such as "AB") keeps every word to the fields of those weights."""
    quoted = ["'" + word.replace("\\", "\\\\").replace("'", "''") + "'" for word in words]
    parts = [f"{word}:{weights}" if weights else word for word in quoted[:-1]]
    parts.append(f"{quoted[-1]}:*{weights}")
    return " & ".join(parts)


def matches(value: str, query: Query) -> list[tuple[int, int]]:
    """Where in ``value`` the query's words appear: the (start, end) of each shown word that
    holds a whole word of the query or starts with its last one, accents and case aside.

    Worked out here rather than by the engines so that both mark the same words.
    """
    prefix = query.prefix_term
    if prefix is None:
        return []
    exact = query.exact_terms
    spans = []
    for found in _TEXT_WORD_RE.finditer(value):
        parts = _WORD_RE.findall(fold(found.group()))
        if any(part in exact or part.startswith(prefix) for part in parts):
            spans.append(found.span())
    return spans
