"""Merge fields: `{{ subscriber.first_name }}`, `{{ subscriber.attributes.company|default:"there" }}`.

A sandbox by construction: no template engine ever evaluates an editor's text. Merge fields are
recognised by one regular expression, checked against a whitelist of variables and filters, and
replaced by per-recipient placeholders of the send (`{{{mf_0}}}`, `{{{mf_0_html}}}`...), which the
pipeline, SES (one template per send, per-recipient replacement data), the preview and test
sends all fill in with the same function, `merge_values`. Values are inserted once and never
read again as template text, so a name or attribute holding `{{ ... }}` prints as it is.

    variables  subscriber.first_name, last_name, name, email, locale, timezone,
               subscriber.attributes.<key>
    filters    default:"text" (when the value is empty), upper, lower, title, capfirst,
               truncatechars:N
Anything else written `{{ subscriber... }}` is refused with the reason (`merge_problems`); other
braces (`{{ settings.X }}`, `{% load %}`) are not merge fields and print as written. In HTML the
value is HTML-escaped, in JSON payloads JSON-escaped, in Slack text `&`, `<`, `>` are escaped.

Markers: while a message is built, each merge field is a private-use marker (`\\ue000<n>\\ue001`)
that survives Markdown, sanitizing, CSS inlining and the chat conversions untouched; the last
step turns markers into the placeholder of the right escaping for each part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

SUBSCRIBER_VARIABLES = ("first_name", "last_name", "name", "email", "locale", "timezone")
FILTERS = ("default", "upper", "lower", "title", "capfirst", "truncatechars")
MAX_FIELDS = 50
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
# Any {{ subscriber... }} expression; what is inside is checked by _parse.
_EXPRESSION = re.compile(r"\{\{\s*(subscriber\b[^{}]*?)\s*\}\}")
_PATH = re.compile(r"^subscriber\.(?:attributes\.([a-z][a-z0-9_]{0,49})|([a-z_]+))$")
_FILTER = re.compile(r'^([a-z_]+)(?::(?:"([^"\\]{0,200})"|\'([^\'\\]{0,200})\'|(\d{1,4})))?$')


@dataclass(frozen=True)
class MergeField:
    variable: str  # "first_name" or "attributes.company"
    filters: tuple[tuple[str, str | None], ...] = ()

    @property
    def label(self) -> str:
        return f"subscriber.{self.variable}"

    @property
    def attribute(self) -> str | None:
        return self.variable.removeprefix("attributes.") if self.variable.startswith("attributes.") else None

    @property
    def has_default(self) -> bool:
        return any(name == "default" for name, _ in self.filters)

    def as_json(self) -> dict[str, Any]:
        return {"variable": self.variable, "filters": [list(f) for f in self.filters]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MergeField:
        return cls(data["variable"], tuple((name, arg) for name, arg in data["filters"]))


class MergeError(ValueError):
    pass


def _parse(expression: str) -> MergeField:
    path, *filters = [part.strip() for part in expression.split("|")]
    match = _PATH.match(path)
    if match is None or (match[2] and match[2] not in SUBSCRIBER_VARIABLES):
        allowed = ", ".join(f"subscriber.{v}" for v in SUBSCRIBER_VARIABLES)
        raise MergeError(f"{{{{ {expression} }}}}: unknown merge field; use {allowed} or subscriber.attributes.<key>")
    parsed = []
    for text in filters:
        found = _FILTER.match(text)
        if found is None or found[1] not in FILTERS:
            raise MergeError(f"{{{{ {expression} }}}}: unknown filter {text[:40]!r}; use {', '.join(FILTERS)}")
        name, quoted, number = found[1], found[2] if found[2] is not None else found[3], found[4]
        wanted = {"default": 'a quoted text (default:"there")', "truncatechars": "a number (truncatechars:20)"}
        arg = quoted if name == "default" else number
        if (name in wanted) != (arg is not None) or (name not in wanted and (quoted or number) is not None):
            raise MergeError(f"{{{{ {expression} }}}}: {name} takes {wanted.get(name, 'nothing')}")
        parsed.append((name, arg))
    variable = f"attributes.{match[1]}" if match[1] else match[2]
    return MergeField(variable, tuple(parsed))


def merge_problems(text: str) -> list[str]:
    """Why the merge fields of `text` cannot be used (empty list: they can)."""
    problems = []
    for match in _EXPRESSION.finditer(text or ""):
        try:
            _parse(match[1])
        except MergeError as exc:
            problems.append(str(exc))
    if len({m[1] for m in _EXPRESSION.finditer(text or "")}) > MAX_FIELDS:
        problems.append(f"at most {MAX_FIELDS} different merge fields per message")
    return problems


@dataclass
class MergeTable:
    """The merge fields of one message, in order of first use (the send keeps them)."""

    fields: list[MergeField] = field(default_factory=list)

    def mark(self, text: str) -> str:
        """Every valid merge field of `text` as a marker (invalid ones stay as written)."""

        def replace(match: re.Match) -> str:
            try:
                parsed = _parse(match[1])
            except MergeError:
                return match[0]
            if parsed not in self.fields:
                self.fields.append(parsed)
            return f"{_OPEN}{self.fields.index(parsed)}{_CLOSE}"

        return _EXPRESSION.sub(replace, text or "") if "{{" in (text or "") else text

    def as_json(self) -> list[dict[str, Any]]:
        return [f.as_json() for f in self.fields]


def unmark(text: str, flavour: str = "") -> str:
    """Markers as placeholders: flavour "" (raw: plain text, JSON strings), "html" or "slack"."""
    suffix = f"_{flavour}" if flavour else ""
    return _MARKER.sub(lambda m: "{{{mf_" + m[1] + suffix + "}}}", text) if _OPEN in text else text


def unmark_json(data: Any, flavour: str = "") -> Any:
    if isinstance(data, str):
        return unmark(data, flavour)
    if isinstance(data, list):
        return [unmark_json(item, flavour) for item in data]
    if isinstance(data, dict):
        return {key: unmark_json(value, flavour) for key, value in data.items()}
    return data


def marked_in(text: str) -> set[int]:
    return {int(m[1]) for m in _MARKER.finditer(text)}


@dataclass(frozen=True)
class Recipient:
    """What merge fields may read of a subscriber: nothing else exists for them."""

    name: str = ""
    email: str = ""
    locale: str = ""
    timezone: str = ""
    attributes: Mapping[str, Any] | None = None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def field_value(merge_field: MergeField, recipient: Recipient, defaults: Mapping[str, Any]) -> str:
    key = merge_field.attribute
    if key is not None:
        value = _text((recipient.attributes or {}).get(key))
        if value == "":
            value = _text(defaults.get(key))
    elif merge_field.variable in ("first_name", "last_name"):
        words = (recipient.name or "").split()
        value = " ".join(words[:1] if merge_field.variable == "first_name" else words[1:])
    else:
        value = _text(getattr(recipient, merge_field.variable))
    for name, arg in merge_field.filters:
        value = _FILTER_FUNCTIONS[name](value, arg)
    return value


_FILTER_FUNCTIONS = {
    "default": lambda value, arg: value if value.strip() else (arg or ""),
    "upper": lambda value, arg: value.upper(),
    "lower": lambda value, arg: value.lower(),
    "title": lambda value, arg: value.title(),
    "capfirst": lambda value, arg: value[:1].upper() + value[1:],
    "truncatechars": lambda value, arg: value if len(value) <= int(arg) else value[: max(int(arg) - 1, 0)] + "…",
}


def merge_values(
    fields: Sequence[Mapping[str, Any]], recipient: Recipient, defaults: Mapping[str, Any]
) -> dict[str, str]:
    """Per-recipient variables of a send's merge fields (its `content["merge_fields"]`): raw,
    HTML-escaped and Slack-escaped. The pipeline, previews and test sends all use this."""
    values: dict[str, str] = {}
    for index, data in enumerate(fields):
        value = field_value(MergeField.from_json(data), recipient, defaults)
        values[f"mf_{index}"] = value
        values[f"mf_{index}_html"] = escape(value)
        values[f"mf_{index}_slack"] = escape(value, quote=False)
    return values


def merge_defaults() -> dict[str, Any]:
    """Custom fields' defaults by key: one query, once per batch or preview."""
    from subscribers.models import SubscriberField

    return dict(SubscriberField.objects.exclude(default=None).values_list("key", "default"))
