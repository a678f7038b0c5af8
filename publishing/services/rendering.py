"""The one rendering service: a publication becomes a send's `content` (channels_app/rendering.py
is the contract), used alike by the admin preview, test sends and the send pipeline.

Templates live in templates/channels/<kind>/ and can be overridden per topic in
templates/channels/<kind>/topics/<topic slug>/ (the publication's topics are tried by slug).
Per-recipient values are SES-style `{{{var}}}` placeholders that the pipeline (or SES itself)
fills in; the preview and test sends fill them with the same functions, so what an editor
previews is what recipients get.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import css_inline
from django.conf import settings
from django.template import engines
from django.template.loader import render_to_string, select_template
from django.utils.safestring import mark_safe

from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import MessageTemplate
from channels_app.adapters.convert import html_to_text
from channels_app.adapters.slack import mrkdwn_escape
from channels_app.rendering import payload_substitute
from publishing.markup import (
    LinkTable,
    attribute_safe,
    body_html,
    body_html_with_placeholders,
    defuse,
    placeholder,
)
from publishing.merge import MergeTable, Recipient, merge_defaults, merge_values, unmark, unmark_json
from publishing.models import Publication
from publishing.services.branding import Brand, brand_current
from publishing.services.layouts import layout_source_for, layouts_in_use
from subscribers.links import testmessage_url
from subscribers.models import Subscriber, Topic

ARCHIVE_PATH = "/archive/{slug}/"
# Every per-recipient variable of channels_app.rendering, as a placeholder a template can print.
RECIPIENT_VARIABLES = (
    "name",
    "name_html",
    "email",
    "mention",
    "unsubscribe_url",
    "unsubscribe_all_url",
    "preferences_url",
    "open_pixel_url",
    "open_pixel_html",
)


def placeholders(*names: str) -> dict[str, str]:
    """`{"name": "{{{name}}}"}`: Django templates print these; `{{{` cannot appear in them."""
    return {name: mark_safe(placeholder(name)) for name in (*RECIPIENT_VARIABLES, *names)}  # noqa: S308


def archive_url(*, slug: str) -> str:
    return settings.SITE_URL + ARCHIVE_PATH.format(slug=slug)


def publication_read_url(*, publication: Publication) -> str:
    """Where "Read online" goes: the canonical URL when there is one, else the archive page."""
    if publication.canonical_url:
        return attribute_safe(publication.canonical_url)
    return archive_url(slug=publication.slug)


def topic_templates(kind: str, name: str, topics: Sequence[Topic]) -> list[str]:
    slugs = sorted(t.slug for t in topics)
    return [f"channels/{kind}/topics/{slug}/{name}" for slug in slugs] + [f"channels/{kind}/{name}"]


def render_for_topics(
    kind: str, name: str, topics: Sequence[Topic], context: Mapping[str, Any], merge: MergeTable | None = None
) -> str:
    """The template for these topics, rendered. With `merge`, its `{{ subscriber.… }}` merge
    fields become markers first: Django never evaluates them, whatever the context holds."""
    edited, _ = layout_source_for(kind=kind, name=name, topics=topics)
    if edited is not None:  # a layout saved in admin (publishing/services/layouts.py validated it)
        return _from_string(merge.mark(edited) if merge is not None else edited).render(dict(context))
    template = select_template(topic_templates(kind, name, topics))
    if merge is not None:
        source = template.template.source
        marked = merge.mark(source)
        if marked != source:
            template = _from_string(marked)
    return template.render(dict(context))


@lru_cache(maxsize=64)
def _from_string(source: str):
    return engines["django"].from_string(source)


def email_inline(html: str) -> str:
    """CSS inlined into style attributes for clients that drop <style>; the <style> block stays
    for those that honour media queries (the responsive layout)."""
    return css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False).inline(html)


def email_subject(publication: Publication, merge: MergeTable | None = None) -> str:
    """The subject; merge fields in `email_subject` become markers of `merge` (the title has none)."""
    subject = " ".join((publication.email_subject or publication.title).split())
    if merge is not None and publication.email_subject:
        subject = merge.mark(subject)
    return defuse(subject)


@dataclass(frozen=True)
class _Parts:
    context: dict[str, Any]
    links: list[str]
    topics: list[Topic]
    merge: MergeTable


def _parts(publication: Publication, topics: Sequence[Topic] | None) -> _Parts:
    topics = sorted(topics if topics is not None else publication.topics.all(), key=lambda t: t.slug)
    links = LinkTable([publication_read_url(publication=publication)])
    merge = MergeTable()
    html = body_html_with_placeholders(publication.body, base_url=settings.SITE_URL, links=links, merge=merge)
    title, summary = defuse(publication.title), defuse(publication.summary)
    topic_names = [defuse(t.name) for t in topics]
    brand = brand_current()
    context = {
        **brand.context(),
        "from_name": brand.from_name,
        "publication_id": publication.pk,
        "slug": publication.slug,
        "title": title,
        "subject": email_subject(publication, merge),
        "summary": summary,
        "topics": topic_names,
        "topic_slugs": [t.slug for t in topics],
        "priority": publication.priority,
        "is_alert": publication.priority == Publication.Priority.ALERT,
        "quality_score": publication.quality_score,
        "canonical_url": publication.canonical_url,
        "published_at": publication.published_at.isoformat() if publication.published_at else None,
        "body_html": mark_safe(html),  # noqa: S308  (sanitized by nh3 in publishing.markup)
        "body_text": html_to_text(html),
        "footer": " · ".join(topic_names) + f" · {brand.sender_name}",
        "tracking": True,
        "ph": {**placeholders(), "read_url": mark_safe(placeholder("link_0"))},  # noqa: S308
    }
    for adapter in ADAPTERS.values():  # each kind's own values: titles in its markup, and so on
        context.update(adapter.message_context(context))
    return _Parts(context=context, links=links.urls, topics=topics, merge=merge)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _json_part(kind: str, parts: _Parts, context: Mapping[str, Any]) -> dict[str, Any]:
    data = json.loads(render_for_topics(kind, "publication.json", parts.topics, context, parts.merge))
    return unmark_json(data, ADAPTERS[kind].merge_flavour)


def _email_part(kind: str, parts: _Parts, context: Mapping[str, Any]) -> dict[str, str]:
    html = email_inline(render_for_topics(kind, "publication.html", parts.topics, context, parts.merge))
    text = render_for_topics(kind, "publication.txt", parts.topics, context, parts.merge).strip() + "\n"
    part = {"subject": unmark(context["subject"]), "html": unmark(html, "html"), "text": unmark(text)}
    if context.get("from_name"):  # the branding's sender name, shown in the From header
        part["from_name"] = context["from_name"]
    return part


def publication_subject(
    *, publication: Publication, subject: str | None = None, merge: MergeTable | None = None
) -> str:
    """The subject a send of this publication carries (an A/B variant's, or the publication's);
    with `merge`, its merge fields become that table's markers."""
    if subject is None:
        return email_subject(publication, merge)
    subject = " ".join(subject.split())
    return defuse(merge.mark(subject) if merge is not None else subject)


def publication_content(
    *, publication: Publication, topics: Sequence[Topic] | None = None, subject: str | None = None
) -> dict[str, Any]:
    """`Send.content` for a publication: one template per channel kind plus the link table."""
    parts = _parts(publication, topics)
    tracking = all(t.tracking_enabled for t in parts.topics)
    context = {
        **parts.context,
        "tracking": tracking,
        "subject": publication_subject(publication=publication, subject=subject, merge=parts.merge),
    }
    content: dict[str, Any] = {
        kind: (_email_part if adapter.renders_email else _json_part)(kind, parts, context)
        for kind, adapter in ADAPTERS.items()
    }
    content.update(
        links=parts.links,
        tracking=tracking,
        # Its unsubscribe links stop these topics on the channel it came by; its List-Id.
        topic_ids=[t.pk for t in parts.topics],
        list=publication_list(topics=parts.topics),
    )
    layouts = layouts_in_use(topics=parts.topics)
    if layouts:  # the edited layout versions it was rendered with (admin: Message layouts)
        content["layouts"] = layouts
    if parts.merge.fields:
        content["merge_fields"] = parts.merge.as_json()
    if len(parts.topics) == 1:  # analytics reads a single topic here (tracking switched off later)
        content["topic_id"] = parts.topics[0].pk
    return content


def publication_list(*, topics: Sequence[Topic]) -> dict[str, str]:
    """The list a publication's email belongs to (RFC 2919): its topic's, or for several topics
    the list of exactly those (slugs have no dots, so `<a>.<b>` names one set of topics)."""
    if not topics:
        return {"label": "all", "name": settings.SITE_NAME}
    ordered = sorted(topics, key=lambda t: t.slug)
    return {"label": ".".join(t.slug for t in ordered), "name": ", ".join(t.name for t in ordered)}


def publication_html(*, publication: Publication) -> str:
    """Sanitized HTML of the body with its real links (archive pages and feeds)."""
    return body_html(publication.body, base_url=settings.SITE_URL)


# --- Filling in recipients: the preview and test sends --------------------------------------


def sample_variables(*, actor, links: Sequence[str], channel_kind: str) -> dict[str, str]:
    """Per-recipient values for a preview or a test: the editor as the recipient, real links
    (no tracking, so no open pixel), and unsubscribe and preferences links leading to a page
    that says it was a test (nobody is subscribed by a test, so there is nothing to change)."""
    name, email = _actor_identity(actor)
    adapter = ADAPTERS[channel_kind]
    escape_text = adapter.escape_text
    unsubscribe = testmessage_url(link="unsubscribe")
    values = {f"link_{i}": url for i, url in enumerate(links)}
    values.update(
        name=escape_text(name),
        name_html=_escape(name),
        email=escape_text(email),
        mention=adapter.sample_mention(name),
        unsubscribe_url=unsubscribe,
        unsubscribe_all_url=unsubscribe,
        preferences_url=testmessage_url(link="preferences"),
    )
    return values


def _actor_identity(actor) -> tuple[str, str]:
    """The editor's name and address as a preview's recipient, unescaped."""
    name = (actor.get_full_name() if actor is not None else "") or getattr(actor, "username", "") or "Reader"
    return name, getattr(actor, "email", "") or "reader@example.com"


def content_render(*, content: Mapping[str, Any], kind: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """One channel kind's part of a send's content, filled in exactly as the pipeline does:
    email through MessageTemplate.render, chat and webhook payloads through JSON-safe
    substitution (channels_app.rendering.payload_substitute, which the pipeline uses)."""
    part = content.get(kind) or {}
    if ADAPTERS[kind].renders_email:
        template = MessageTemplate(key="preview", subject=part.get("subject", ""), html=part["html"], text=part["text"])
        subject, html, text = template.render(variables)
        return {"subject": subject, "html": html, "text": text}
    return payload_substitute(json.dumps(part), variables)


def preview_variables(
    *, content: Mapping[str, Any], actor, channel_kind: str, subscriber: Subscriber | None = None
) -> dict[str, str]:
    """A preview's or a test's per-recipient values: the editor as the recipient, or a chosen
    subscriber (their name, address and merge fields, exactly as the pipeline fills them)."""
    values = sample_variables(actor=actor, links=content.get("links", []), channel_kind=channel_kind)
    if subscriber is not None:
        escape_text = ADAPTERS[channel_kind].escape_text
        values.update(
            name=escape_text(subscriber.name), name_html=_escape(subscriber.name), email=escape_text(subscriber.email)
        )
        recipient = Recipient(
            subscriber.name, subscriber.email, subscriber.locale, subscriber.timezone, subscriber.attributes
        )
    else:  # the editor, unescaped: merge_values escapes for the channel (values["name"] already is)
        name, email = _actor_identity(actor)
        recipient = Recipient(name=name, email=email)
    if content.get("merge_fields"):
        values.update(merge_values(content["merge_fields"], recipient, merge_defaults()))
    return values


def publication_preview(
    *, publication: Publication, topics: Sequence[Topic] | None, actor, subscriber: Subscriber | None = None
) -> dict[str, Any]:
    """Every channel's message for this (possibly unsaved) publication, as the editor (or the
    chosen subscriber) would get it."""
    content = publication_content(publication=publication, topics=topics)
    preview = {}
    for kind in ADAPTERS:
        variables = preview_variables(content=content, actor=actor, channel_kind=kind, subscriber=subscriber)
        preview[kind] = content_render(content=content, kind=kind, variables=variables)
    preview["links"] = content["links"]
    preview["merge_fields"] = [f"subscriber.{f['variable']}" for f in content.get("merge_fields", [])]
    return preview


def digest_item_parts(*, publication: Publication, topics: Sequence[Topic], link: str) -> dict[str, str]:
    """One publication's entry in a digest: HTML and text with `link` (a placeholder) as its URL."""
    context = {
        "title": defuse(publication.title),
        "summary": defuse(publication.summary),
        "topics": [defuse(t.name) for t in topics],
        "is_alert": publication.priority == Publication.Priority.ALERT,
        "read_url": mark_safe(link) if link else "",  # noqa: S308  (a {{{link_N}}} placeholder)
    }
    return {
        "html": render_for_topics("email", "digest_item.html", topics, context).strip(),
        "text": render_for_topics("email", "digest_item.txt", topics, context).strip() + "\n\n",
    }


# A Slack digest item's summary is cut here: ten items stay well inside one message.
DIGEST_SLACK_SUMMARY_CHARS = 300


def digest_item_slack(*, publication: Publication, topics: Sequence[Topic], link: str) -> str:
    """One publication's entry in a Slack digest: mrkdwn with `link` (a placeholder) as its URL.
    Every user-supplied text is escaped for Slack (a `<!channel>` in a title pings nobody)."""
    title = mrkdwn_escape(defuse(publication.title))
    alert = "🚨 " if publication.priority == Publication.Priority.ALERT else ""
    lines = [f"{alert}*<{link}|{title}>*" if link else f"{alert}*{title}*"]
    summary = defuse(publication.summary)
    if summary:
        cut = summary if len(summary) <= DIGEST_SLACK_SUMMARY_CHARS else summary[:DIGEST_SLACK_SUMMARY_CHARS] + "…"
        lines.append(mrkdwn_escape(cut))
    if topics:
        lines.append("_" + mrkdwn_escape(" · ".join(defuse(t.name) for t in topics)) + "_")
    return "\n".join(lines)


def digest_item_data(*, publication: Publication, topics: Sequence[Topic]) -> dict[str, Any]:
    """One publication's entry in a webhook digest (its URL is added per recipient: tracked or not)."""
    return {
        "id": publication.pk,
        "slug": publication.slug,
        "title": defuse(publication.title),
        "summary": defuse(publication.summary),
        "canonical_url": publication.canonical_url,
        "priority": publication.priority,
        "quality_score": publication.quality_score,
        "topics": [t.slug for t in topics],
        "published_at": publication.published_at.isoformat() if publication.published_at else None,
    }


def digest_email_templates(*, frequency: str) -> dict[str, str]:
    """The digest's subject, HTML and text around per-recipient items ({{{digest_items_html}}})."""
    return dict(_digest_email_templates(frequency, brand_current()))


@lru_cache(maxsize=16)  # the same for every digest of a frequency: render and inline CSS once
def _digest_email_templates(frequency: str, brand: Brand) -> tuple[tuple[str, str], ...]:
    heading = f"Your {frequency} digest"
    context = {
        **brand.context(),
        "heading": heading,
        "frequency": frequency,
        "subject": heading,
        "topics": [],
        "tracking": True,
        "ph": placeholders(
            "digest_items_html", "digest_items_text", "digest_preheader", "digest_name", "digest_name_html"
        ),
    }
    return (
        ("subject", "{{{digest_subject}}}"),
        ("html", email_inline(render_to_string("channels/email/digest.html", context))),
        ("text", render_to_string("channels/email/digest.txt", context).strip() + "\n"),
    )


SAMPLE_BODY = """Bulletin renders this sample with the layout you are editing.

## A heading

A paragraph with a [link](https://example.com/) and **bold** text, then a list:

- one
- two
"""


def layout_sample_preview(*, kind: str, topic: Topic | None, actor) -> tuple[dict[str, Any], dict[str, Any]]:
    """A layout's preview: the newest publication of the topic (or a sample) rendered for `kind`,
    before and after the editor is filled in as the recipient."""
    recent = Publication.objects.filter(state=Publication.State.PUBLISHED)
    if topic is not None:
        recent = recent.filter(topics=topic)
    publication = recent.order_by("-published_at").first() or Publication(
        pk=0, title="A sample publication", slug="sample", summary="Its summary, in one sentence.", body=SAMPLE_BODY
    )
    content = publication_content(publication=publication, topics=[topic] if topic else [])
    variables = preview_variables(content=content, actor=actor, channel_kind=kind)
    return content[kind], content_render(content=content, kind=kind, variables=variables)
