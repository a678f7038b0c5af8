"""The part of Handlebars that SES templates use for "simple substitution".

SES renders templates with Handlebars
(https://docs.aws.amazon.com/ses/latest/dg/send-personalized-email-advanced.html):
`{{name}}` inserts the value HTML-escaped, `{{{name}}}` inserts it raw, `{{a.b}}` walks
nested objects and a missing value renders as nothing. Block helpers (`{{#if}}`,
`{{#each}}`) are not emulated; they are left in the output so a test notices.
"""

from __future__ import annotations

import re
from typing import Any

# Handlebars' escapeExpression: & < > " ' ` = (handlebars-lang/handlebars.js lib/handlebars/utils.js)
_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}
_ESCAPE_RE = re.compile("[&<>\"'`=]")
_TAG_RE = re.compile(r"\{\{\{\s*([\w.-]+)\s*\}\}\}|\{\{\s*([\w.-]+)\s*\}\}")


def escape(text: str) -> str:
    return _ESCAPE_RE.sub(lambda match: _ESCAPES[match.group()], text)


def lookup(data: Any, dotted: str) -> Any:
    value = data
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def as_text(value: Any) -> str:
    # Handlebars prints nothing for null/undefined, and JavaScript's toString for the rest.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(as_text(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def render(template: str, data: dict[str, Any]) -> str:
    def substitute(match: re.Match[str]) -> str:
        raw_name, escaped_name = match.groups()
        if raw_name is not None:
            return as_text(lookup(data, raw_name))
        return escape(as_text(lookup(data, escaped_name)))

    return _TAG_RE.sub(substitute, template)
