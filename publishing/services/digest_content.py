"""A digest send's content and its renderer (registered for Send.Kind.DIGEST in apps.py).

Every recipient of a digest send shares ONE email template (so SES still takes 50 recipients
per SendBulkEmail call); what differs is per-recipient data: their ranked items, already filled
in as `{{{digest_items_html}}}` / `{{{digest_items_text}}}`, and the subject. Each candidate's
item is rendered once per run with its link as `{{{link_N}}}`, N its index in the send's link
table (`content["links"]`), so tracked clicks resolve like any other send's.

    content = {"email": {"subject": "{{{digest_subject}}}", "html": ..., "text": ...},
               "links": [read URL of every candidate], "tracking": true,
               "digest": {"frequency": "daily", "items": {"<publication id>": {"html", "text",
                          "title", "link": N, "tracking": bool}}}}
    Delivery.context = {"items": [publication ids, best first], "frequency", "period"}
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from html import escape
from typing import Any

from django.conf import settings

from analytics.links import click_url
from channels_app.adapters.base import MessageTemplate, RenderedMessage, substitute
from channels_app.models import Channel, Send
from channels_app.rendering import DeliveryRow, open_pixel_values
from publishing.markup import defuse, placeholder
from publishing.services.ranking import Candidate
from publishing.services.rendering import digest_email_templates, digest_item_parts, publication_read_url
from subscribers.links import list_unsubscribe_headers, preferences_url, unsubscribe_url

# Rendered items, keyed by what they depend on: a digest run renders each candidate once, and a
# worker process keeps them for the next runs (an edit changes updated_at, hence the key).
_ITEMS: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_ITEMS_MAX = 4096


def _item(candidate: Candidate, link_index: int) -> dict[str, Any]:
    publication = candidate.publication
    topics = sorted(publication.topics.all(), key=lambda t: t.slug)
    key = (
        publication.pk,
        publication.updated_at,
        link_index,
        tuple((t.slug, t.name, t.tracking_enabled) for t in topics),
    )
    if key in _ITEMS:
        _ITEMS.move_to_end(key)
        return _ITEMS[key]
    parts = digest_item_parts(publication=publication, topics=topics, link=placeholder(f"link_{link_index}"))
    item = {
        **parts,
        "title": defuse(publication.title),
        "link": link_index,
        "tracking": all(t.tracking_enabled for t in topics),
    }
    _ITEMS[key] = item
    if len(_ITEMS) > _ITEMS_MAX:
        _ITEMS.popitem(last=False)
    return item


def digest_content(*, frequency: str, candidates: Sequence[Candidate], used: Sequence[Candidate]) -> dict[str, Any]:
    """Content for a digest send: links of every candidate (stable indices for the whole run),
    items only for the candidates this send's recipients get."""
    links = [publication_read_url(publication=c.publication) for c in candidates]
    index = {c.id: i for i, c in enumerate(candidates)}
    items = {}
    for candidate in used:
        if str(candidate.id) not in items:
            items[str(candidate.id)] = _item(candidate, index[candidate.id])
    return {
        "email": digest_email_templates(frequency=frequency),
        "links": links,
        "tracking": all(item["tracking"] for item in items.values()),
        "digest": {"frequency": frequency, "items": items},
    }


class DigestRenderer:
    """channels_app.rendering's Renderer for digest sends: compiled once per batch."""

    def __init__(self, *, send: Send, channel: Channel):
        content = send.content or {}
        part = content.get("email") or {}
        self.links: list[str] = list(content.get("links", []))
        self.items: dict[str, dict[str, Any]] = (content.get("digest") or {}).get("items", {})
        self.frequency = (content.get("digest") or {}).get("frequency", "daily")
        self.tracking = channel.tracking_enabled
        self.template = MessageTemplate(
            key=f"bulletin-send-{send.pk}",
            subject=part.get("subject") or send.subject,
            html=part.get("html", ""),
            text=part.get("text", ""),
        )

    def render(self, row: DeliveryRow) -> RenderedMessage:
        items = [self.items[str(pk)] for pk in (row.context or {}).get("items", []) if str(pk) in self.items]
        tracking = self.tracking and all(item["tracking"] for item in items)
        values = self._recipient(row)
        links = {
            f"link_{item['link']}": click_url(delivery_id=row.id, link_index=item["link"])
            if tracking
            else self.links[item["link"]]
            for item in items
        }
        if tracking:
            values.update(open_pixel_values(delivery_id=row.id))
        values["digest_items_html"] = "".join(substitute(item["html"], links) for item in items)
        values["digest_items_text"] = "".join(substitute(item["text"], links) for item in items)
        values["digest_subject"] = self._subject(items)
        values["digest_preheader"] = " · ".join(item["title"] for item in items[:3])
        headers = list_unsubscribe_headers(subscriber_id=row.subscriber_id, url=values["unsubscribe_url"])
        return RenderedMessage(row.id, row.recipient, template=self.template, variables=values, headers=headers)

    def _recipient(self, row: DeliveryRow) -> dict[str, str]:
        url = unsubscribe_url(subscriber_id=row.subscriber_id)
        name = row.name or "reader"
        return {
            "name": row.name,
            "name_html": escape(row.name),
            "email": row.email,
            "digest_name": name,
            "digest_name_html": escape(name),
            "unsubscribe_url": url,
            "unsubscribe_all_url": url,
            "preferences_url": preferences_url(subscriber_id=row.subscriber_id, token_version=row.token_version),
        }

    def _subject(self, items: list[dict[str, Any]]) -> str:
        heading = f"Your {self.frequency} {settings.SITE_NAME} digest"
        if not items:
            return heading
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        return f"{heading}: {items[0]['title']}{more}"
