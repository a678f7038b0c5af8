"""Markdown in, sanitized HTML out: markdown-it-py renders, nh3 sanitizes, and the links of the
result become the send's link table.

Editors may mix raw HTML into Markdown. What would be silently dropped because it is dangerous
(scripts, frames, forms, event handlers, javascript: URLs) is refused by `body_problems` instead,
so an editor learns about it before publishing; everything rendered is sanitized regardless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from html import unescape
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import nh3
from markdown_it import MarkdownIt

BODY_MAX_CHARS = 100_000

ALLOWED_TAGS = {
    *("a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del", "div", "dl", "dt"),
    *("em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li"),
    *("mark", "ol", "p", "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td"),
    *("tfoot", "th", "thead", "tr", "u", "ul"),
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align", "colspan", "rowspan"},
    "th": {"align", "colspan", "rowspan", "scope"},
    "ol": {"start"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}
# Removed with their content (nh3 would keep the text of other unknown tags).
CLEAN_CONTENT_TAGS = {"script", "style"}
# Tags whose presence is an error rather than something to strip quietly.
FORBIDDEN_TAGS = {
    *("script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "input", "button"),
    *("textarea", "select", "option", "svg", "math", "noscript", "template", "base", "link", "meta", "html"),
    *("head", "body", "title", "video", "audio", "source", "track", "canvas", "dialog", "portal"),
}

_HREF = re.compile(r'(<a\b[^>]*?\shref=")([^"]*)(")')
_SRC = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")')
_BRACES = re.compile(r"\{(?=\{)")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML allowed (sanitized afterwards), plus GFM tables and strikethrough.
    return MarkdownIt("commonmark", {"html": True, "typographer": False}).enable(["table", "strikethrough"])


def markdown_render(body: str) -> str:
    """The raw HTML of a Markdown body, before sanitizing."""
    return _markdown().render(body or "")


def html_sanitize(html: str) -> str:
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags=CLEAN_CONTENT_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


def defuse(text: str) -> str:
    """Break `{{` in editors' text so no provider reads it as a substitution placeholder.
    A zero-width space keeps it looking the same to readers."""
    return _BRACES.sub("{\u200b", text or "")


class _Inspector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def _add(self, problem: str) -> None:
        if problem not in self.problems:
            self.problems.append(problem)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in FORBIDDEN_TAGS:
            self._add(f"<{tag}> is not allowed")
        elif tag not in ALLOWED_TAGS:
            self._add(f"<{tag}> is not a supported tag")
        for name, value in attrs:
            if name.startswith("on"):
                self._add(f"event handler attributes ({name}=) are not allowed")
            elif name in ("href", "src") and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                if scheme and scheme not in URL_SCHEMES:
                    self._add(f"{scheme}: URLs are not allowed (only {', '.join(sorted(URL_SCHEMES))})")

    handle_startendtag = handle_starttag


def body_problems(body: str) -> list[str]:
    """Why a Markdown body cannot be published as it is (empty list: it can)."""
    if len(body or "") > BODY_MAX_CHARS:
        return [f"the body is longer than {BODY_MAX_CHARS:,} characters"]
    if body and any(ord(c) < 32 and c not in "\t\n\r" for c in body):
        return ["the body contains control characters (NUL or similar)"]
    if body and any("\ue000" <= c <= "\uf8ff" for c in body):
        return ["the body contains private-use characters"]  # they would read as merge-field markers
    inspector = _Inspector()
    inspector.feed(markdown_render(body))
    inspector.close()
    return inspector.problems + _merge_problems(body)


def _merge_problems(body: str) -> list[str]:
    from publishing.merge import MergeTable, marked_in, merge_problems

    problems = merge_problems(body)
    merge = MergeTable()
    html = body_html(merge.mark(body), base_url="https://example.invalid")
    if not problems and marked_in(html) != set(range(len(merge.fields))):
        problems.append("merge fields work in text, not inside link or image addresses")
    return problems


def placeholder(name: str) -> str:
    """`{{{name}}}`: a raw SES-style substitution (channels_app.rendering)."""
    return "{{{" + name + "}}}"


@dataclass
class LinkTable:
    """The send's link table: every URL once, in order of first appearance."""

    urls: list[str] = field(default_factory=list)

    def index(self, url: str) -> int:
        try:
            return self.urls.index(url)
        except ValueError:
            self.urls.append(url)
            return len(self.urls) - 1

    def placeholder(self, url: str) -> str:
        return placeholder(f"link_{self.index(url)}")


def absolute_url(url: str, base: str) -> str:
    url = url.strip()
    if not url or url.startswith("#") or urlsplit(url).scheme:
        return url
    return urljoin(base.rstrip("/") + "/", url)


def attribute_safe(url: str) -> str:
    """A URL that can go raw into a double-quoted attribute or a JSON string."""
    return url.replace('"', "%22").replace("<", "%3C").replace(">", "%3E").replace(" ", "%20")


def body_html(body: str, *, base_url: str) -> str:
    """Sanitized HTML of the body with its real (absolute) links: the archive and the feeds."""
    html = html_sanitize(markdown_render(body))
    html = _SRC.sub(lambda m: m[1] + attribute_safe(absolute_url(unescape(m[2]), base_url)) + m[3], html)
    return _HREF.sub(lambda m: m[1] + attribute_safe(absolute_url(unescape(m[2]), base_url)) + m[3], html)


def body_html_with_placeholders(body: str, *, base_url: str, links: LinkTable, merge=None) -> str:
    """Sanitized, defused HTML whose http(s) links are `{{{link_N}}}` placeholders of `links`
    and whose merge fields are markers of `merge` (a publishing.merge.MergeTable)."""
    html = defuse(body_html(merge.mark(body) if merge is not None else body, base_url=base_url))

    def replace(match: re.Match) -> str:
        url = unescape(match[2]).replace("{\u200b", "{")
        if urlsplit(url).scheme not in ("http", "https"):
            return match[0]
        return match[1] + links.placeholder(url) + match[3]

    return _HREF.sub(replace, html)
