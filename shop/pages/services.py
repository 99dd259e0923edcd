"""The trust pages, each rendered from a Markdown file the owner can edit.

The shipped text of a page lives in ``shop/pages/content/<name>.md``; a file
``instance/pages/<name>.md`` wins over it, so an owner's edited copy survives updates of
the shop. Placeholders such as ``{studio_email}`` stand for settings (``PLACEHOLDERS``):
each value is escaped as Markdown text before it is put in, so a setting reads as plain
text and can neither add links or formatting nor HTML. The Markdown itself is rendered with
raw HTML turned off (markdown-it shows it as text): the result is inlined in the shop's
pages, under a Content Security Policy that allows no inline styles or scripts anyway.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

# Each page: its name (the file's and the address's) and the title used when its text has
# no level-one heading of its own.
PAGES = {
    "privacy": "Privacy notice",
    "terms": "Terms of sale",
    "refunds": "Refunds and cancellation",
    "contact": "Contact and imprint",
}
# The placeholders a page's text may use, and the setting each stands for.
PLACEHOLDERS = {
    "studio_name": "STUDIO_NAME",
    "studio_address": "STUDIO_ADDRESS",
    "studio_email": "STUDIO_EMAIL",
    "studio_vat_id": "STUDIO_VAT_ID",
    "studio_register": "STUDIO_REGISTER",
    "session_lifetime_days": "SESSION_LIFETIME_DAYS",
}
DESCRIPTION_LENGTH = 160

_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")
# CommonMark lets a backslash escape any ASCII punctuation character, in text and in link
# destinations alike.
_PUNCTUATION_RE = re.compile(r"([!-/:-@\[-`{-~])")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class PageNotFound(LookupError):
    """There is no page of that name."""


@dataclass(frozen=True)
class Page:
    """A rendered page: its title, a description for search results, and its HTML."""

    name: str
    title: str
    description: str
    html: str  # rendered without raw HTML: safe to inline
    has_heading: bool  # whether the text has a level-one heading of its own
    source: str  # the file it was read from


@cache
def _markdown() -> MarkdownIt:
    # CommonMark with tables; "html": False shows raw HTML as text. markdown-it also refuses
    # javascript:, vbscript:, file: and data: links (its validateLink).
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def source_path(name: str, instance_path: Path) -> Path | Any:
    """The file a page is read from: the owner's ``instance/pages/<name>.md`` if there is
    one, else the text shipped in the package."""
    if name not in PAGES:
        raise PageNotFound(name)
    override = instance_path / "pages" / f"{name}.md"
    if override.is_file():
        return override
    return resources.files("shop.pages") / "content" / f"{name}.md"


def markdown_text(value: Any) -> str:
    """A setting's value as Markdown that reads exactly as the value: punctuation escaped,
    control characters dropped; each line of a list or of a text with line breaks becomes a
    line of its own (a hard line break between them)."""
    if value is None:
        return ""
    lines = value if isinstance(value, list | tuple) else str(value).splitlines()
    cleaned = []
    for line in lines:
        line = " ".join(_CONTROL_RE.sub(" ", unicodedata.normalize("NFC", str(line))).split())
        if line:
            cleaned.append(_PUNCTUATION_RE.sub(r"\\\1", line))
    return "\\\n".join(cleaned)


def fill_placeholders(text: str, settings: Mapping[str, Any]) -> str:
    """Put the settings' values, escaped, in place of the known ``{placeholders}``; any
    other text in braces stays as it is."""

    def replace(match: re.Match[str]) -> str:
        key = PLACEHOLDERS.get(match[1])
        return markdown_text(settings.get(key)) if key else match[0]

    return _PLACEHOLDER_RE.sub(replace, text)


def _plain(inline: Token) -> str:
    parts = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return " ".join("".join(parts).split())


def _shorten(text: str, length: int) -> str:
    if len(text) <= length:
        return text
    cut = text[: length - 1].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"


def render(name: str, text: str, settings: Mapping[str, Any], source: str = "") -> Page:
    """Render a page's Markdown ``text`` with the settings put in its placeholders."""
    md = _markdown()
    tokens = md.parse(fill_placeholders(text, settings))
    title = description = ""
    has_heading = False
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.tag == "h1" and not title:
            title = _plain(tokens[index + 1])
            has_heading = True
        elif token.type == "paragraph_open" and not description:
            description = _plain(tokens[index + 1])
    html = md.renderer.render(tokens, md.options, {})
    return Page(
        name=name,
        title=title or PAGES.get(name, name),
        description=_shorten(description, DESCRIPTION_LENGTH),
        html=html,
        has_heading=has_heading,
        source=source,
    )


def load_page(name: str, instance_path: Path, settings: Mapping[str, Any]) -> Page:
    """Read and render the page ``name`` (see ``source_path``); raises ``PageNotFound``."""
    path = source_path(name, instance_path)
    return render(name, path.read_text(encoding="utf-8"), settings, source=str(path))
