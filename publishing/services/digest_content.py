"""A digest send's content and its renderer (registered for Send.Kind.DIGEST in apps.py).

A digest send is for one channel kind (email, a Slack direct message, a personal webhook); its
recipients differ only in per-recipient data: their ranked items, their links and names.

Email: every recipient shares ONE email template (so SES still takes 50 recipients per
SendBulkEmail call); their ranked items are filled in as `{{{digest_items_html}}}` /
`{{{digest_items_text}}}`, with the subject. Slack: one Block Kit message per subscriber (the
subscriber mentioned, one section per item). Webhook: one signed JSON event per subscriber,
`{"type": "digest.daily", "digest": {"items": [...ranked...]}}`. Each candidate's item is
rendered once per run with its link as `{{{link_N}}}`, N its index in the send's link table
(`content["links"]`), so tracked clicks resolve like any other send's.

    content = {"email": {"subject": "{{{digest_subject}}}", "html": ..., "text": ...},  (email only)
               "links": [read URL of every candidate], "tracking": true,
               "list": {"label": "daily-digest", "name": ...},                        (its List-Id)
               "digest": {"frequency": "daily", "kind": "email",
                          "items": {"<publication id>": {"title", "link": N, "tracking": bool,
                                    "html", "text" | "slack" | "webhook": {...}}}}}
    Delivery.context = {"items": [publication ids, best first], "topics": [the digest's topic ids],
                        "frequency", "period"}
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from html import escape
from typing import Any

from django.conf import settings

from analytics.links import click_url
from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import MessageTemplate, RenderedMessage, substitute
from channels_app.adapters.slack import mrkdwn_escape
from channels_app.models import Channel, Send
from channels_app.rendering import (
    DeliveryRow,
    list_headers,
    message_list_id,
    message_unsubscribe_scope,
    open_pixel_values,
)
from publishing.markup import defuse, placeholder
from publishing.services.ranking import Candidate
from publishing.services.rendering import (
    digest_email_templates,
    digest_item_data,
    digest_item_parts,
    digest_item_slack,
    publication_read_url,
)
from subscribers.links import preferences_url, unsubscribe_url

# Rendered items, keyed by what they depend on: a digest run renders each candidate once, and a
# worker process keeps them for the next runs (an edit changes updated_at, hence the key).
_ITEMS: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_ITEMS_MAX = 4096


def _style(kind: str) -> str:
    """How a digest looks on `kind`: an email, a Slack Block Kit message, or signed JSON (the
    adapter's message style, the one admin's preview uses too)."""
    return ADAPTERS[kind].preview


def _item(candidate: Candidate, link_index: int, kind: str) -> dict[str, Any]:
    publication = candidate.publication
    topics = sorted(publication.topics.all(), key=lambda t: t.slug)
    key = (
        kind,
        publication.pk,
        publication.updated_at,
        link_index,
        tuple((t.slug, t.name, t.tracking_enabled) for t in topics),
    )
    if key in _ITEMS:
        _ITEMS.move_to_end(key)
        return _ITEMS[key]
    link = placeholder(f"link_{link_index}")
    style = _style(kind)
    if style == "email":
        parts: dict[str, Any] = digest_item_parts(publication=publication, topics=topics, link=link)
    elif style == "slack":
        parts = {"slack": digest_item_slack(publication=publication, topics=topics, link=link)}
    else:
        parts = {"webhook": digest_item_data(publication=publication, topics=topics)}
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


def digest_content(
    *, frequency: str, candidates: Sequence[Candidate], used: Sequence[Candidate], kind: str = "email"
) -> dict[str, Any]:
    """Content for a digest send on `kind`: links of every candidate (stable indices for the
    whole run), items only for the candidates this send's recipients get."""
    links = [publication_read_url(publication=c.publication) for c in candidates]
    index = {c.id: i for i, c in enumerate(candidates)}
    items = {}
    for candidate in used:
        if str(candidate.id) not in items:
            items[str(candidate.id)] = _item(candidate, index[candidate.id], kind)
    content: dict[str, Any] = {
        "links": links,
        "tracking": all(item["tracking"] for item in items.values()),
        "list": {"label": f"{frequency}-digest", "name": f"{settings.SITE_NAME} {frequency} digest"},
        "digest": {"frequency": frequency, "kind": kind, "items": items},
    }
    if _style(kind) == "email":
        content["email"] = digest_email_templates(frequency=frequency)
    return content


class DigestRenderer:
    """channels_app.rendering's Renderer for digest sends: compiled once per batch."""

    def __init__(self, *, send: Send, channel: Channel):
        content = send.content or {}
        part = content.get("email") or {}
        self.content = content
        self.kind = channel.kind
        self.links: list[str] = list(content.get("links", []))
        self.items: dict[str, dict[str, Any]] = (content.get("digest") or {}).get("items", {})
        self.frequency = (content.get("digest") or {}).get("frequency", "daily")
        self.tracking = channel.tracking_enabled
        self.list_id = message_list_id(channel=channel, content=content)
        self.template = MessageTemplate(
            key=f"bulletin-send-{send.pk}",
            subject=part.get("subject") or send.subject,
            html=part.get("html", ""),
            text=part.get("text", ""),
        )

    def render(self, row: DeliveryRow) -> RenderedMessage:
        items = [self.items[str(pk)] for pk in (row.context or {}).get("items", []) if str(pk) in self.items]
        tracking = self.tracking and all(item["tracking"] for item in items)
        links = self._links(row, items, tracking)
        style = _style(self.kind)
        if style == "slack":
            return RenderedMessage(row.id, row.recipient, payload=self._slack(row, items, links))
        if style != "email":
            return RenderedMessage(row.id, row.recipient, payload=self._webhook(row, items, links))
        return self._email(row, items, links, tracking)

    def _links(self, row: DeliveryRow, items: list[dict[str, Any]], tracking: bool) -> dict[str, str]:
        links = {
            f"link_{item['link']}": click_url(delivery_id=row.id, link_index=item["link"])
            if tracking
            else self.links[item["link"]]
            for item in items
        }
        if _style(self.kind) == "slack":  # inside <url|text>, Slack's control characters must go
            links = {name: slack_url(url) for name, url in links.items()}
        return links

    def _email(
        self, row: DeliveryRow, items: list[dict[str, Any]], links: dict[str, str], tracking: bool
    ) -> RenderedMessage:
        values = self._recipient(row)
        if tracking:
            values.update(open_pixel_values(delivery_id=row.id))
        values["digest_items_html"] = "".join(substitute(item["html"], links) for item in items)
        values["digest_items_text"] = "".join(substitute(item["text"], links) for item in items)
        values["digest_subject"] = self._subject(items)
        values["digest_preheader"] = " · ".join(item["title"] for item in items[:3])
        headers = list_headers(row=row, unsubscribe=values["unsubscribe_url"], list_id=self.list_id)
        return RenderedMessage(row.id, row.recipient, template=self.template, variables=values, headers=headers)

    def _slack(self, row: DeliveryRow, items: list[dict[str, Any]], links: dict[str, str]) -> dict[str, Any]:
        """One Block Kit message: a header, the subscriber mentioned, one section per item (best
        first), and the preferences and unsubscribe links."""
        values = self._recipient(row)
        mention = f"<@{row.recipient}>"
        heading = mrkdwn_escape(self._heading())
        intro = f"Hi {mention}, here is what is new in your topics since your last digest."
        footer = (
            f"<{slack_url(values['preferences_url'])}|Preferences> · "
            f"<{slack_url(values['unsubscribe_url'])}|Unsubscribe from this digest>"
        )
        blocks = [
            {"type": "header", "text": {"type": "plain_text", "text": heading[:150], "emoji": True}},
            {"type": "section", "text": {"type": "mrkdwn", "text": intro}},
            {"type": "divider"},
            *[_section(substitute(item["slack"], links)) for item in items],
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]},
        ]
        return {"text": f"{mention} {mrkdwn_escape(self._subject(items))}", "blocks": blocks}

    def _webhook(self, row: DeliveryRow, items: list[dict[str, Any]], links: dict[str, str]) -> dict[str, Any]:
        """One event with the ranked items, signed by the webhook adapter (Standard Webhooks)."""
        values = self._recipient(row)
        ranked = [
            {"rank": rank, **item["webhook"], "url": links[f"link_{item['link']}"]}
            for rank, item in enumerate(items, start=1)
        ]
        return {
            "type": f"digest.{self.frequency}",
            "digest": {
                "frequency": self.frequency,
                "period": (row.context or {}).get("period"),
                "title": self._heading(),
                "items": ranked,
            },
            "unsubscribe_url": values["unsubscribe_url"],
            "preferences_url": values["preferences_url"],
        }

    def _recipient(self, row: DeliveryRow) -> dict[str, str]:
        scope = message_unsubscribe_scope(kind=self.kind, content=self.content, context=row.context)
        url = unsubscribe_url(subscriber_id=row.subscriber_id, scope=scope)
        name = row.name or "reader"
        return {
            "name": row.name,
            "name_html": escape(row.name),
            "email": row.email,
            "digest_name": name,
            "digest_name_html": escape(name),
            "unsubscribe_url": url,
            "unsubscribe_all_url": unsubscribe_url(subscriber_id=row.subscriber_id),
            "preferences_url": preferences_url(subscriber_id=row.subscriber_id, token_version=row.token_version),
        }

    def _heading(self) -> str:
        return f"Your {self.frequency} {settings.SITE_NAME} digest"

    def _subject(self, items: list[dict[str, Any]]) -> str:
        heading = self._heading()
        if not items:
            return heading
        more = f" (+{len(items) - 1} more)" if len(items) > 1 else ""
        return f"{heading}: {items[0]['title']}{more}"


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def slack_url(url: str) -> str:
    """A URL safe inside Slack's `<url|text>`: its control characters percent-encoded."""
    return url.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
