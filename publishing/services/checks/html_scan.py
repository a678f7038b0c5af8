"""The parts of a rendered HTML message the checks look at: images and anchors."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Anchor:
    href: str | None
    text: str = ""


@dataclass
class HtmlScan:
    images: list[dict[str, str | None]] = field(default_factory=list)
    anchors: list[Anchor] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What a reader sees: the text outside <head>, <style> and <script>."""
        return " ".join(" ".join(self.text_parts).split())


_HIDDEN = ("head", "style", "script")


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = HtmlScan()
        self._open: list[Anchor] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "img":
            self.scan.images.append(dict(attrs))
        elif tag == "a":
            anchor = Anchor(href=dict(attrs).get("href"))
            self.scan.anchors.append(anchor)
            self._open.append(anchor)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "a" and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.scan.text_parts.append(data)
        for anchor in self._open:
            anchor.text += data


def html_scan(html: str) -> HtmlScan:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.scan


def is_pixel(image: dict[str, str | None]) -> bool:
    """A 1×1 tracking pixel (ours or anyone's): not content, so neither alt text nor ratio apply."""
    return (image.get("width") or "").strip() in ("0", "1") and (image.get("height") or "").strip() in ("0", "1")
