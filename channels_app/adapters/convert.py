"""Sanitized HTML → plain text, Slack mrkdwn and Discord Markdown.

One walker with a style per target, so every channel shows the same structure (headings,
lists, quotes, code, links) in the syntax it understands. Input is the output of
publishing.markup (already sanitized, links already placeholders), so the walker only meets
the tags markup allows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from channels_app.adapters.slack import mrkdwn_escape

_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul", "ol", "table", "figure", "dl"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


@dataclass(frozen=True)
class Style:
    bold: tuple[str, str] = ("", "")
    italic: tuple[str, str] = ("", "")
    strike: tuple[str, str] = ("", "")
    code: tuple[str, str] = ("", "")
    pre: tuple[str, str] = ("", "")
    heading: tuple[str, str] = ("", "")
    bullet: str = "- "
    escape_text: bool = False  # Slack: & < > must be entities in text

    def link(self, url: str, text: str) -> str:
        if not text or text == url:
            return url
        return f"{text} ({url})"


class _SlackStyle(Style):
    def link(self, url: str, text: str) -> str:
        return f"<{url}|{text}>" if text and text != url else f"<{url}>"


class _DiscordStyle(Style):
    def link(self, url: str, text: str) -> str:
        return f"[{text}]({url})" if text and text != url else url


TEXT = Style()
SLACK = _SlackStyle(
    bold=("*", "*"),
    italic=("_", "_"),
    strike=("~", "~"),
    code=("`", "`"),
    pre=("```\n", "\n```"),
    heading=("*", "*"),
    bullet="• ",
    escape_text=True,
)
DISCORD = _DiscordStyle(
    bold=("**", "**"),
    italic=("*", "*"),
    strike=("~~", "~~"),
    code=("`", "`"),
    pre=("```\n", "\n```"),
    heading=("**", "**"),
)
# Stand-ins kept through the final whitespace clean-up: newlines of code blocks, list indentation.
_PRE_NEWLINE, _INDENT = "\x01", "\x02\x02"
_INLINE = {"b": "bold", "strong": "bold", "i": "italic", "em": "italic", "s": "strike", "del": "strike"}


class _Walker(HTMLParser):
    def __init__(self, style: Style) -> None:
        super().__init__(convert_charrefs=True)
        self.style = style
        self.out: list[str] = []
        self.lists: list[list[int]] = []  # one counter per open list; [-1] for bullets
        self.links: list[tuple[str, int]] = []  # (url, position in out) of open <a>
        self.quotes: list[int] = []  # start positions in out of open <blockquote>
        self.in_pre = False
        self.in_code = False

    # --- helpers -------------------------------------------------------------------------
    def _block_break(self) -> None:
        self.out.append("\n\n")

    def _emit(self, text: str) -> None:
        if self.style.escape_text:
            text = mrkdwn_escape(text)
        self.out.append(text)

    # --- parser callbacks ----------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _BLOCKS and not self.lists:
            self._block_break()
        if tag in _HEADINGS:
            self.out.append(self.style.heading[0])
        elif tag in _INLINE:
            self.out.append(getattr(self.style, _INLINE[tag])[0])
        elif tag == "code" and not self.in_pre:
            self.in_code = True
            self.out.append(self.style.code[0])
        elif tag == "pre":
            self.in_pre = True
            self.out.append(self.style.pre[0].replace("\n", _PRE_NEWLINE))
        elif tag == "blockquote":
            self.quotes.append(len(self.out))
        elif tag in ("ul", "ol"):
            self.lists.append([int(attributes.get("start") or 1) if tag == "ol" else -1])
        elif tag == "li":
            self._list_item()
        elif tag == "br":
            self.out.append("\n")
        elif tag == "hr":
            self.out.append("\n\n———\n\n")
        elif tag == "a":
            self.links.append((attributes.get("href") or "", len(self.out)))
        elif tag == "img":
            alt = attributes.get("alt") or "image"
            self._emit(f"[{alt}]")
        elif tag in ("td", "th") and self.out and not self.out[-1].endswith("\n"):
            self.out[-1] = self.out[-1].rstrip(" ")
            self.out.append(" | ")
        elif tag == "tr":
            self.out.append("\n")

    def _list_item(self) -> None:
        depth = len(self.lists) - 1
        self.out.append("\n" + _INDENT * max(depth, 0))
        if self.lists and self.lists[-1][0] >= 0:
            self.out.append(f"{self.lists[-1][0]}. ")
            self.lists[-1][0] += 1
        else:
            self.out.append(self.style.bullet)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HEADINGS:
            self.out.append(self.style.heading[1])
        elif tag in _INLINE:
            self.out.append(getattr(self.style, _INLINE[tag])[1])
        elif tag == "code" and self.in_code:
            self.in_code = False
            self.out.append(self.style.code[1])
        elif tag == "pre":
            self.in_pre = False
            if self.out:
                self.out[-1] = self.out[-1].rstrip(_PRE_NEWLINE)
            self.out.append(self.style.pre[1].replace("\n", _PRE_NEWLINE))
        elif tag == "blockquote" and self.quotes:
            start = self.quotes.pop()
            quoted = "".join(self.out[start:]).strip()
            del self.out[start:]
            self.out.append("\n\n" + "\n".join("> " + line for line in quoted.split("\n")) + "\n\n")
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "a" and self.links:
            url, start = self.links.pop()
            text = "".join(self.out[start:]).strip()
            del self.out[start:]
            self.out.append(self.style.link(url, text) if url else text)
        if tag in _BLOCKS and not self.lists:
            self._block_break()

    def handle_data(self, data: str) -> None:
        if self.in_pre:
            self._emit(data.replace("\n", _PRE_NEWLINE))
            return
        data = re.sub(r"\s+", " ", data)
        if data == " " and self._last_char() in ("\n", " ", ""):
            return  # whitespace between block tags
        self._emit(data)

    def _last_char(self) -> str:
        for piece in reversed(self.out):
            if piece:
                return piece[-1]
        return ""

    def result(self) -> str:
        lines = [line.strip() for line in "".join(self.out).split("\n")]
        text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
        return text.replace(_PRE_NEWLINE, "\n").replace(_INDENT, "  ")


def _convert(html: str, style: Style) -> str:
    walker = _Walker(style)
    walker.feed(html)
    walker.close()
    return walker.result()


def html_to_text(html: str) -> str:
    return _convert(html, TEXT)


def html_to_slack(html: str) -> str:
    return _convert(html, SLACK)


def html_to_discord(html: str) -> str:
    return _convert(html, DISCORD)


def chunks(text: str, limit: int) -> list[str]:
    """Paragraph-aligned pieces of at most `limit` characters (Slack sections hold 3,000)."""
    pieces: list[str] = []
    current = ""
    for paragraph in text.split("\n\n"):
        candidate = f"{current}\n\n{paragraph}" if current else paragraph
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        while len(paragraph) > limit:
            pieces.append(paragraph[:limit])
            paragraph = paragraph[limit:]
        current = paragraph
    if current:
        pieces.append(current)
    return pieces
