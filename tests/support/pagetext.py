"""Read a rendered page the way a person (or a screen reader) meets its text."""

from __future__ import annotations

from html.parser import HTMLParser


class _TextParser(HTMLParser):
    SKIP = {"script", "style", "svg"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        attributes = dict(attrs)
        if tag == "img" and attributes.get("alt"):
            self.parts.append(attributes["alt"])
        if tag == "input" and attributes.get("placeholder"):
            self.parts.append(attributes["placeholder"])

    def handle_endtag(self, tag):
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def page_text(html: str) -> str:
    """The page's text, image alt texts included, with white space folded."""
    parser = _TextParser()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def fold(text: str) -> str:
    """White space folded, for comparing copy."""
    return " ".join(text.split())
