"""Per-recipient rendering of a send, compiled once per batch.

A send's `content` (prepared once by publishing's rendering service) holds, per channel
kind, templates with SES-style placeholders:
    {"email":   {"subject": ..., "html": ..., "text": ...},   # kinds that render_email
     "slack":   {"text": ..., "blocks": [...]},             # every other kind: its JSON payload
     "discord": {"content": ..., "embeds": [...]},
     "webhook": {...any JSON...},
     "links": ["https://...", ...],     # every link in the message, in order
     "topic_ids": [3, 5],                # what its unsubscribe link stops (on the channel's kind)
     "list": {"label": "news", "name": "News"},  # its RFC 2919 List-Id (emails)
     "tracking": true}
Templates use `{{{var}}}` only (inserted as is), and `*_html` variables inside HTML, so the
output does not depend on how a provider escapes `{{var}}`. Variables per recipient:
    name, name_html, email, mention (the kind's, e.g. Slack's <@member>), unsubscribe_url, unsubscribe_all_url,
    preferences_url, open_pixel_url and open_pixel_html (the <img>; tracked emails only),
    link_0 ... link_N (tracked click URLs, or the links themselves when tracking is off),
    plus `context` values of the delivery.
Other send kinds (digests) register their own renderer with `register_renderer`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape, unescape
from typing import Any, Protocol

from analytics.links import click_urls, open_url
from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import MessageTemplate, RenderedMessage, substitute, variable_names
from channels_app.adapters.email import list_id_namespace
from channels_app.models import Channel, Send
from publishing.merge import Recipient, merge_defaults, merge_values
from subscribers.links import list_id_header, list_unsubscribe_headers, preferences_url, unsubscribe_url
from subscribers.tokens import EVERYTHING, UnsubscribeScope


@dataclass(frozen=True)
class DeliveryRow:
    """What rendering needs of a delivery, loaded in one query per batch."""

    id: int
    recipient: str
    subscriber_id: int | None
    name: str = ""
    email: str = ""
    token_version: int = 1
    context: Mapping[str, Any] | None = None
    # What merge fields may read (publishing.merge): nothing else of the subscriber is loaded.
    attributes: Mapping[str, Any] | None = None
    locale: str = ""
    timezone: str = ""


class PreparedSend(Protocol):
    def render(self, row: DeliveryRow) -> RenderedMessage: ...


class Renderer(Protocol):
    def __call__(self, *, send: Send, channel: Channel) -> PreparedSend: ...


_RENDERERS: dict[str, Renderer] = {}


def register_renderer(kind: str, renderer: Renderer) -> None:
    _RENDERERS[kind] = renderer


def prepare(*, send: Send, channel: Channel) -> PreparedSend:
    return _RENDERERS.get(send.kind, TemplateRenderer)(send=send, channel=channel)


def html_to_text(html: str) -> str:
    """A readable plain-text version of HTML: block ends become line breaks, tags go."""
    text = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", "", html)
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|h[1-6]|li|tr)>", "\n", text)
    text = re.sub(r'(?is)<a\b[^>]*href="([^"]+)"[^>]*>(.*?)</a>', r"\2 (\1)", text)
    text = unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in text.splitlines())).strip()
    return re.sub(r"\{\{\{(\w+)_html\}\}\}", r"{{{\1}}}", text)  # plain text takes the raw values


class TemplateRenderer:
    """The default: one template per channel kind, personalized by variable substitution."""

    def __init__(self, *, send: Send, channel: Channel):
        self.send = send
        self.channel = channel
        self.kind = channel.kind
        self.adapter = ADAPTERS[channel.kind]
        content = send.content or {}
        self.links: list[str] = list(content.get("links", []))
        self.scope = message_unsubscribe_scope(kind=self.kind, content=content)
        self.list_id = message_list_id(channel=channel, content=content)
        self.tracking = channel.tracking_enabled and content.get("tracking", True)
        self.personal = channel.audience == Channel.Audience.SUBSCRIBERS
        # Subscribers choose their own names: inert in the kind's markup (Slack mentions).
        self.escape_text = self.adapter.escape_text
        self.merge_fields = content.get("merge_fields") or []
        self.merge_defaults = merge_defaults() if self.merge_fields else {}
        part = content.get(self.kind) or {}
        if self.adapter.renders_email:
            html = part.get("html", "")
            self.template = MessageTemplate(
                key=f"bulletin-send-{send.pk}",
                subject=part.get("subject") or send.subject,
                html=html,
                # Every email carries a plain-text part, derived from the HTML when none was written.
                text=part.get("text") or html_to_text(html),
                from_name=part.get("from_name", ""),
            )
            # The variables the template names: a recipient's entry carries only those (each
            # is JSON in the provider request, which is signed and sent per chunk) and links
            # the template never prints are not signed at all.
            self.used: frozenset[str] | None = template_variables(self.template)
        else:
            # Serialized once; each recipient's values are substituted JSON-escaped.
            self.payload_json = json.dumps(part)
            self.used = None

    def _wants(self, *names: str) -> bool:
        return self.used is None or any(name in self.used for name in names)

    def variables(self, row: DeliveryRow) -> dict[str, str]:
        values: dict[str, str] = {}
        if self.tracking:
            if self._wants("open_pixel_url", "open_pixel_html"):
                values.update(open_pixel_values(delivery_id=row.id))
            links = click_urls(delivery_id=row.id, send_id=self.send.pk, count=len(self.links))
            values.update({f"link_{i}": url for i, url in enumerate(links)})
        else:
            values.update({f"link_{i}": url for i, url in enumerate(self.links)})
        if row.subscriber_id is not None:
            values.update(
                name=self.escape_text(row.name),
                name_html=escape(row.name),
                email=self.escape_text(row.email),
                mention=self.adapter.mention(row.recipient),
                unsubscribe_url=unsubscribe_url(subscriber_id=row.subscriber_id, scope=self.scope),
            )
            if self._wants("preferences_url"):
                values["preferences_url"] = preferences_url(
                    subscriber_id=row.subscriber_id, token_version=row.token_version
                )
            if self.scope.is_everything:
                values["unsubscribe_all_url"] = values["unsubscribe_url"]
            elif self._wants("unsubscribe_all_url"):
                values["unsubscribe_all_url"] = unsubscribe_url(subscriber_id=row.subscriber_id)
        if row.context:
            values.update({k: str(v) for k, v in row.context.items() if isinstance(v, (str, int, float))})
        if self.merge_fields:  # a broadcast destination has no subscriber: the defaults print
            recipient = Recipient(row.name, row.email, row.locale, row.timezone, row.attributes)
            values.update(merge_values(self.merge_fields, recipient, self.merge_defaults))
        return values

    def render(self, row: DeliveryRow) -> RenderedMessage:
        values = self.variables(row)
        if self.adapter.renders_email:
            headers = (
                list_headers(row=row, unsubscribe=values["unsubscribe_url"], list_id=self.list_id)
                if row.subscriber_id is not None
                else {}
            )
            values = {name: value for name, value in values.items() if name in self.used}
            return RenderedMessage(row.id, row.recipient, template=self.template, variables=values, headers=headers)
        return RenderedMessage(row.id, row.recipient if self.personal else "", payload=self._payload(values))

    def _payload(self, values: Mapping[str, str]) -> dict[str, Any]:
        return payload_substitute(self.payload_json, values)


def template_variables(template: MessageTemplate) -> frozenset[str]:
    """The variable names an email template prints, in its subject, HTML or text."""
    return frozenset(variable_names(template.subject) | variable_names(template.html) | variable_names(template.text))


def message_unsubscribe_scope(
    *, kind: str, content: Mapping[str, Any], context: Mapping[str, Any] | None = None
) -> UnsubscribeScope:
    """What a personal message's unsubscribe link (and its mailto) stops: a publication's topics on
    the channel kind it came by, a digest's topics (its delivery's `context["topics"]`) on its
    kind; everything when the message stands for no topic (or predates scopes)."""
    digest = content.get("digest")
    if digest is not None:
        topics = (context or {}).get("topics") or []
        frequency = str(digest.get("frequency", ""))
        return (
            UnsubscribeScope(kind=kind, topic_ids=tuple(sorted(topics)), frequency=frequency) if topics else EVERYTHING
        )
    topic_ids = content.get("topic_ids") or ([content["topic_id"]] if content.get("topic_id") else [])
    return UnsubscribeScope(kind=kind, topic_ids=tuple(sorted(topic_ids))) if topic_ids else EVERYTHING


def message_list_id(*, channel: Channel, content: Mapping[str, Any]) -> str | None:
    """The RFC 2919 List-Id of an email send: its topic's (or its digest's) list, under the
    channel's namespace (channels_app.adapters.email.list_id_namespace)."""
    found = content.get("list")
    if not ADAPTERS[channel.kind].renders_email or not found:
        return None
    return list_id_header(name=found["name"], label=found["label"], namespace=list_id_namespace(channel.config))


def list_headers(*, row: DeliveryRow, unsubscribe: str, list_id: str | None) -> dict[str, str]:
    """A list email's headers: RFC 8058 one-click List-Unsubscribe (with the mailto Bulletin
    processes, when configured) and its RFC 2919 List-Id."""
    headers = list_unsubscribe_headers(subscriber_id=row.subscriber_id, url=unsubscribe, delivery_id=row.id)
    if list_id:
        headers["List-Id"] = list_id
    return headers


def open_pixel_values(*, delivery_id: int) -> dict[str, str]:
    """The open pixel of a tracked email: its URL and the <img> the layout prints. Untracked
    messages (tests, tracking off) get neither, so no `<img src="">` is left behind."""
    url = open_url(delivery_id=delivery_id)
    img = f'<img src="{url}" width="1" height="1" alt="" style="display:block;border:0;width:1px;height:1px">'
    return {"open_pixel_url": url, "open_pixel_html": img}


def payload_substitute(payload_json: str, values: Mapping[str, str]) -> dict[str, Any]:
    """A chat or webhook payload (JSON text with {{{var}}} placeholders) filled in: each value
    JSON-escaped, so no value can break out of its string. Preview and pipeline both use it."""
    escaped = {k: json.dumps(v)[1:-1] for k, v in values.items()}
    return json.loads(substitute(payload_json, escaped))


def notice_payload(*, kind: str, text: str, **webhook_fields: Any) -> dict[str, Any]:
    """A short plain-text notice (a channel test, a guard alert) as a chat or webhook kind takes it."""
    return ADAPTERS[kind].notice(text, **webhook_fields)
