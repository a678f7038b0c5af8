"""One rendering service: the send's content, per-topic templates, and a preview equal to what is sent."""

import json

import pytest
from django.template.loader import select_template

from channels_app.adapters import ADAPTERS
from channels_app.adapters.convert import html_to_discord, html_to_slack, html_to_text
from channels_app.rendering import DeliveryRow, prepare
from publishing.markup import LinkTable, body_html_with_placeholders
from publishing.models import Publication
from publishing.services.rendering import (
    content_render,
    publication_content,
    publication_preview,
    sample_variables,
    topic_templates,
)
from tests.factories import ChannelFactory, SendFactory, TopicFactory

pytestmark = pytest.mark.django_db


def test_content_has_every_channel_and_the_link_table_with_the_read_link_first(draft, topic):
    content = publication_content(publication=draft)
    assert set(content) == {*ADAPTERS, "links", "tracking", "topic_id", "topic_ids", "list"}, "a template per kind"
    assert content["topic_ids"] == [topic.pk] and content["list"] == {"label": "news", "name": "News"}
    assert content["links"] == [f"http://127.0.0.1:8000/archive/{draft.slug}/", "https://example.com/report?q=1&r=2"]
    assert content["topic_id"] == topic.pk and content["tracking"] is True
    email = content["email"]
    assert email["subject"] == "Quarterly results"
    assert 'href="{{{link_1}}}"' in email["html"] and "{{{unsubscribe_url}}}" in email["html"]
    assert "{{{preferences_url}}}" in email["text"] and "Bulletin, 1 Example Street, Springfield" in email["text"]
    assert 'style="' in email["html"] and "@media" in email["html"], "CSS inlined, media queries kept"
    assert content["slack"]["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Quarterly results", "emoji": True},
    }
    assert content["discord"]["embeds"][0]["url"] == "{{{link_0}}}"
    assert content["webhook"]["publication"]["topics"] == ["news"]


def test_a_canonical_url_is_the_read_link(draft):
    draft.canonical_url = "https://blog.example.com/results"
    assert publication_content(publication=draft)["links"][0] == "https://blog.example.com/results"


def test_a_topic_without_tracking_turns_tracking_off(draft):
    draft.topics.add(TopicFactory(slug="quiet", tracking_enabled=False))
    content = publication_content(publication=draft)
    assert content["tracking"] is False and "topic_id" not in content


def test_an_email_carries_the_open_pixel_only_when_tracked_and_never_an_empty_image(draft):
    send = SendFactory(content=publication_content(publication=draft), kind="newsletter")
    row = DeliveryRow(7, "ada@example.com", 3, "Ada", "ada@example.com")
    for tracking, pixels in ((True, 1), (False, 0)):
        channel = ChannelFactory(tracking_enabled=tracking)
        message = prepare(send=send, channel=channel).render(row)
        html = message.template.render(message.variables)[1]
        assert html.count("/t/o/") == pixels
        assert '<img src=""' not in html


def test_templates_are_overridden_per_topic(draft):
    security = TopicFactory(slug="security", name="Security")
    assert (
        topic_templates("email", "publication.html", [security])[0] == "channels/email/topics/security/publication.html"
    )
    draft.topics.set([security])
    html = publication_content(publication=draft)["email"]["html"]
    assert "Security advisory" in html
    assert select_template(topic_templates("slack", "publication.json", [security])).origin.name.endswith(
        "channels/slack/publication.json"
    )


def test_editors_braces_never_become_placeholders(draft):
    draft.title = "Use {{{unsubscribe_url}}} and {{name}}"
    draft.body = "Code: `{{{email}}}`"
    content = publication_content(publication=draft)
    rendered = content_render(
        content=content, kind="email", variables={"unsubscribe_url": "SECRET", "name": "SECRET", "email": "SECRET"}
    )
    assert "SECRET" not in rendered["subject"] and "SECRET" not in rendered["text"].split("--")[0]
    webhook = content_render(content=content, kind="webhook", variables={"email": "SECRET", "name": "SECRET"})
    assert "SECRET" not in json.dumps(webhook)


def test_the_preview_is_exactly_what_the_pipeline_renders_for_the_same_values(draft, editor):
    send = SendFactory(content=publication_content(publication=draft), kind="newsletter")
    for kind, adapter in ADAPTERS.items():
        audience = next(iter(sorted(adapter.audiences)))
        channel = ChannelFactory(kind=kind, audience=audience, tracking_enabled=False, credentials={})
        message = prepare(send=send, channel=channel).render(
            DeliveryRow(7, "ada@example.com" if adapter.renders_email else "", None)
        )
        values = sample_variables(actor=editor, links=send.content["links"], channel_kind=kind)
        if adapter.renders_email:
            values = {**values, **message.variables}
            assert content_render(content=send.content, kind=kind, variables=values) == dict(
                zip(("subject", "html", "text"), message.template.render(values), strict=True)
            )
        else:
            pipeline_values = {k: v for k, v in values.items() if k.startswith("link_")}
            assert content_render(content=send.content, kind=kind, variables=pipeline_values) == message.payload


def test_the_preview_shows_every_channel_with_real_links(draft, editor):
    preview = publication_preview(publication=draft, topics=None, actor=editor)
    assert set(preview) == {*ADAPTERS, "links", "merge_fields"}
    assert 'href="https://example.com/report?q=1&r=2"' in preview["email"]["html"]
    assert "/t/c/" not in preview["email"]["html"], "previews never create tracking links"
    assert "/test-message/preferences" in preview["email"]["text"], "footer links lead to a page that works"
    assert '<img src=""' not in preview["email"]["html"], "no open pixel without tracking"
    assert "{{{" not in json.dumps(preview)
    assert preview["slack"]["text"].startswith("@Eddie Editor New: Quarterly results")


def test_an_unsaved_publication_can_be_previewed(topic, editor):
    unsaved = Publication(title="Draft in the browser", slug="", body="*hi*", priority="alert")
    preview = publication_preview(publication=unsaved, topics=[topic], actor=editor)
    assert "ALERT: Draft in the browser" in preview["email"]["text"]
    assert preview["webhook"]["type"] == "publication.alert"


def test_html_becomes_text_slack_and_discord_markup_with_the_same_structure():
    links = LinkTable(["https://read"])
    html = body_html_with_placeholders(
        "## Head\n\n**bold** _it_ [link](https://a.example) & <b>x</b>\n\n- one\n- two\n\n> quote\n\n"
        "```\ncode\n  kept\n```",
        base_url="https://site.example",
        links=links,
    )
    assert html_to_text(html) == "Head\n\nbold it link ({{{link_1}}}) & x\n\n- one\n- two\n\n> quote\n\ncode\n  kept"
    assert html_to_slack(html).startswith("*Head*\n\n*bold* _it_ <{{{link_1}}}|link> &amp; *x*")
    assert "```\ncode\n  kept\n```" in html_to_slack(html)
    assert html_to_discord(html).startswith("**Head**\n\n**bold** *it* [link]({{{link_1}}}) & **x**")


def test_relative_links_and_images_become_absolute_and_unsafe_html_is_stripped():
    links = LinkTable(["https://read"])
    html = body_html_with_placeholders(
        '[about](/about) ![logo](/logo.png) <b onclick="x()">b</b><script>bad()</script>',
        base_url="https://site.example",
        links=links,
    )
    assert links.urls == ["https://read", "https://site.example/about"]
    assert 'src="https://site.example/logo.png"' in html
    assert "onclick" not in html and "script" not in html and "bad()" not in html
