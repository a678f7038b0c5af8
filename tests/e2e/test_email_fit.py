"""Every email Bulletin sends fits a phone: rendered in Chromium at 320, 390 and 600 px, the
document is exactly as wide as the viewport (no sideways scrolling), in light and dark mode, and
dark mode really changes the colours. Screenshots of each go to a temporary folder.

The messages are made by the real rendering services (publication preview, digest templates, the
subscriber system emails through Django's mail API, the channel test message), with content that
tends to break layouts: a long unbroken URL, a wide table, a wide image, a long code line.
"""

from __future__ import annotations

import pytest
from django.core import mail
from django.template.loader import render_to_string

from channels_app.adapters.base import MessageTemplate
from publishing.models import Publication
from publishing.services.rendering import digest_email_templates, digest_item_parts, publication_preview
from subscribers.services.messages import MessageKind, subscriber_message_send, system_email_send
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, TopicFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTHS = (320, 390, 600)
LONG_URL = "https://example.com/" + "a-very-long-path-segment-without-any-break" * 4
BODY = f"""Hello **{{{{ subscriber.first_name|default:"reader" }}}}**, read this: {LONG_URL}

| Region | Requests | Errors | p50 | p95 | p99 | Owner |
| --- | --- | --- | --- | --- | --- | --- |
| eu-west-1-production-primary | 1234567890 | 12345 | 120 ms | 300 ms | 800 ms | platform-engineering |

<img src="https://example.com/wide.png" width="1200" height="300" alt="A wide chart">

    curl -X POST https://api.example.com/v1/some/really/long/endpoint/that/does/not/wrap --data '{{"a": 1}}'

A word that never ends: {"x" * 120}
"""


def _publication_html(priority: str) -> str:
    topic = TopicFactory(slug=f"news-{priority}", name="Platform engineering weekly")
    publication = PublicationFactory(
        title="A title long enough to wrap on a phone screen, and then some more words",
        summary="A summary of the publication.",
        body=BODY,
        topics=[topic],
        priority=priority,
    )
    return publication_preview(publication=publication, topics=[topic], actor=UserFactory())["email"]["html"]


def _digest_html() -> str:
    topic = TopicFactory(slug="digest-topic", name="Security")
    items = []
    for i in range(3):
        publication = PublicationFactory(
            title=f"Digest item {i}: " + "long-unbroken-title-word" * 3,
            summary=f"Read {LONG_URL}",
            topics=[topic],
            priority=Publication.Priority.ALERT if i == 0 else Publication.Priority.NORMAL,
        )
        items.append(digest_item_parts(publication=publication, topics=[topic], link=LONG_URL)["html"])
    parts = digest_email_templates(frequency="daily")
    template = MessageTemplate(key="digest", subject=parts["subject"], html=parts["html"], text=parts["text"])
    variables = {
        "digest_items_html": "".join(items),
        "digest_name_html": "Ada",
        "digest_preheader": "Three items",
        "unsubscribe_url": LONG_URL,
        "unsubscribe_all_url": LONG_URL,
        "preferences_url": LONG_URL,
    }
    return template.render(variables)[1]


def _system_emails() -> dict[str, str]:
    topic = TopicFactory(slug="system-topic", name="Product updates")
    pending = SubscriberFactory(status="pending", email="a-very-long-address-of-someone@subdomain.example.com")
    active = SubscriberFactory(status="active", name="Ada")
    mail.outbox = []
    subscriber_message_send(subscriber_id=pending.pk, kind=MessageKind.CONFIRM)
    subscriber_message_send(subscriber_id=active.pk, kind=MessageKind.CONFIRM_TOPICS, topic_ids=[topic.pk])
    subscriber_message_send(subscriber_id=active.pk, kind=MessageKind.ALREADY_SUBSCRIBED)
    subscriber_message_send(subscriber_id=active.pk, kind=MessageKind.PREFERENCES_LINK)
    context = {"keep_url": LONG_URL, "grace_days": 14}
    system_email_send(subscriber=active, template="analytics/email/reengage", context=context)
    names = ["confirm", "confirm_topics", "already_subscribed", "preferences_link", "reengage"]
    assert len(mail.outbox) == len(names)
    return {name: message.alternatives[0][0] for name, message in zip(names, mail.outbox, strict=True)}


def _emails() -> dict[str, str]:
    channel = ChannelFactory(name="A channel with a rather long name for a test message", kind="email")
    return {
        "alert": _publication_html(Publication.Priority.ALERT),
        "newsletter": _publication_html(Publication.Priority.NORMAL),
        "digest": _digest_html(),
        **_system_emails(),
        "channel_test": render_to_string("channels/email/test.html", {"channel": channel}),
    }


def _open(browser, html: str, width: int, scheme: str):
    context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
    page = context.new_page()
    page.route("**/*", lambda route: route.abort())  # no network: images stay as their boxes
    page.set_content(html, wait_until="domcontentloaded")
    return context, page


def _background(page) -> tuple[int, ...]:
    """The colour behind the message's text: the first non-transparent background up from it."""
    return tuple(
        page.evaluate(
            """() => {
              let el = document.querySelector("h1, p");
              while (el) {
                const c = getComputedStyle(el).backgroundColor;
                if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") return c.match(/\\d+/g).slice(0, 3).map(Number);
                el = el.parentElement;
              }
              return [255, 255, 255];
            }"""
        )
    )


def test_every_email_fits_320_390_and_600_px_in_light_and_dark(browser, tmp_path):
    emails = _emails()
    problems = []
    for name, html in emails.items():
        for scheme in ("light", "dark"):
            for width in WIDTHS:
                context, page = _open(browser, html, width, scheme)
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                page.screenshot(path=str(tmp_path / f"{name}-{scheme}-{width}.png"), full_page=True)
                if scroll_width != width:
                    problems.append(f"{name} ({scheme}) at {width} px is {scroll_width} px wide")
                context.close()
    print(f"screenshots in {tmp_path}")
    assert not problems, "\n".join(problems)
    assert len(list(tmp_path.glob("*.png"))) == len(emails) * 2 * len(WIDTHS)


def test_every_email_follows_the_readers_dark_mode(browser):
    for name, html in _emails().items():
        assert 'name="color-scheme" content="light dark"' in html, name
        assert "prefers-color-scheme: dark" in html, name
        context, page = _open(browser, html, 390, "light")
        light = _background(page)
        context.close()
        context, page = _open(browser, html, 390, "dark")
        dark = _background(page)
        context.close()
        assert sum(light) > 600 and sum(dark) < 200, (name, light, dark)
