"""A message step's `Send.content`, built from its pinned MessageTemplateVersion, so the step goes
out through the normal send pipeline (Deliveries, batches, rate limits, retries, tracking).

Merge fields: `{{ subscriber.* }}` become the pipeline's merge fields (publishing.merge, filled
per recipient by channels_app.rendering); `{{ data.<key> }}` (the trigger's data) become
per-delivery `context` values `d_<n>` / `d_<n>_html`, computed in SQL when the deliveries are
inserted (`data_context_sql`). Links become tracked `{{{link_N}}}` placeholders and the message
carries an open pixel, an unsubscribe link and the List-Unsubscribe headers like any other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from channels_app.adapters.convert import html_to_text
from publishing.markup import LinkTable, body_html_with_placeholders, defuse
from publishing.merge import MergeTable, unmark
from publishing.transactional_models import MessageTemplateVersion

_DATA = re.compile(r'\{\{\s*data\.([A-Za-z0-9_]{1,50})(?:\s*\|\s*default:"([^"\\]{0,200})")?\s*\}\}')
_OPEN, _CLOSE = "\ue002", "\ue003"
_DMARK = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
# The MessageTemplate's own spelling `{{ subscriber.x|default:"y" }}` is publishing.merge's too.


@dataclass(frozen=True)
class DataField:
    key: str
    default: str


def _data_mark(text: str, fields: list[DataField]) -> str:
    def replace(match: re.Match) -> str:
        field = DataField(match[1], match[2] or "")
        if field not in fields:
            fields.append(field)
        return f"{_OPEN}{fields.index(field)}{_CLOSE}"

    return _DATA.sub(replace, text or "")


def _data_unmark(text: str, html: bool) -> str:
    suffix = "_html" if html else ""
    return _DMARK.sub(lambda m: "{{{d_" + m[1] + suffix + "}}}", text)


FOOTER_HTML = (
    '<p style="font-size:12px;color:#666">{site} · <a href="{{{{{{preferences_url}}}}}}">Preferences</a> · '
    '<a href="{{{{{{unsubscribe_url}}}}}}">Unsubscribe</a></p>{{{{{{open_pixel_html}}}}}}'
)


def step_content(*, version: MessageTemplateVersion) -> dict[str, Any]:
    """The email part of a send (the only kind MessageTemplates are for) plus links and fields."""
    merge, links, data_fields = MergeTable(), LinkTable(), []
    body = _data_mark(version.body, data_fields)
    html = body_html_with_placeholders(body, base_url=settings.SITE_URL, links=links, merge=merge)
    html = unmark(html, "html") + FOOTER_HTML.format(site=defuse(settings.SITE_NAME))
    subject = defuse(" ".join(merge.mark(_data_mark(version.subject, data_fields)).split()))
    text = html_to_text(html)
    content: dict[str, Any] = {
        "email": {
            "subject": _data_unmark(unmark(subject), html=False),
            "html": _data_unmark(html, html=True),
            "text": _data_unmark(text, html=False),
        },
        "links": links.urls,
        "tracking": True,
        "data_fields": [{"key": f.key, "default": f.default} for f in data_fields],
    }
    if merge.fields:
        content["merge_fields"] = merge.as_json()
    return content


def _html_escape_sql(expression: str) -> str:
    return f"replace(replace(replace(replace({expression}, '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), '\"', '&quot;')"


def data_context_sql(content: dict[str, Any], alias: str = "e") -> tuple[str, list[Any]]:
    """SQL (and its parameters) of a delivery's `context`: the data fields' values per enrollment."""
    fields = content.get("data_fields") or []
    if not fields:
        return "NULL::jsonb", []
    parts, params = [], []
    for index, field in enumerate(fields):
        value = f"coalesce(nullif({alias}.data ->> %s, ''), %s)"
        parts.append(f"'d_{index}', {value}, 'd_{index}_html', {_html_escape_sql(value)}")
        params.extend([field["key"], field["default"], field["key"], field["default"]])
    return "jsonb_build_object(" + ", ".join(parts) + ")", params
