"""The email audit of every list message (issue 13): a newsletter, an alert and a digest, each sent
through the real pipeline to the outbox and read back as the mailbox provider reads it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from django.test import Client

from channels_app.models import Delivery
from publishing.models import Publication
from publishing.services.digests import digests_run
from publishing.services.publish import publication_publish
from subscribers.services.inbound import mail_unsubscribe_tokens
from subscribers.tokens import mail_token_read
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

GMAIL_CLIPS_AT = 102 * 1024  # bytes of HTML
# RFC 2919: a phrase (quoted or plain), then <list-label.namespace> as a dot-atom.
LIST_ID = re.compile(
    r'^(?:"(?P<name>(?:[^"\\]|\\.)*)"|(?P<plain>[^<"]*?)) ?<(?P<id>[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+)>$'
)
BODY = "\n\n".join(
    f"## Part {n}\n\nA paragraph with [a link](https://example.com/{n}) and **some** detail about the change."
    for n in range(40)
)


@pytest.fixture
def audited(settings):
    settings.SITE_URL = "https://bulletin.example.com"
    settings.LIST_UNSUBSCRIBE_MAILTO = "unsubscribe@unsub.example.com"


def sent_messages(publisher, capture, outbox) -> dict[str, EmailMessage]:
    """A newsletter (two topics), an alert (one topic) and a daily digest, sent to Ada."""
    news, product = TopicFactory(slug="news", name="News"), TopicFactory(slug="product", name="Product")
    ada = SubscriberFactory(email="ada@example.com", digest_hour=8)
    SubscriptionFactory(subscriber=ada, topic=news, frequency="instant")
    SubscriptionFactory(subscriber=ada, topic=product, frequency="daily")
    messages = {}
    newsletter = PublicationFactory(topics=[news, product], title="Our quarter", body=BODY)
    alert = PublicationFactory(topics=[news], title="Outage", body=BODY, priority=Publication.Priority.ALERT)
    for kind, publication in (("newsletter", newsletter), ("alert", alert)):
        with capture(execute=True):
            publication_publish(publication=publication, actor=publisher)
        messages[kind] = outbox()[-1]
    PublicationFactory(topics=[product], published=True, published_at=datetime(2026, 1, 14, 12, tzinfo=UTC), body=BODY)
    with capture(execute=True):
        digests_run(now=datetime(2026, 1, 15, 8, tzinfo=UTC))
    messages["digest"] = outbox()[-1]
    return messages


def audit(message: EmailMessage, *, list_label: str) -> None:
    """Everything a list message must carry, as a mailbox provider sees it."""
    targets = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    https = [t for t in targets if t.startswith("https://")]
    mailtos = [t for t in targets if t.startswith("mailto:")]
    assert len(https) == 1 and len(targets) == 1 + len(mailtos), targets
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A mailto only because Bulletin processes it: its token names this very delivery.
    [mailto] = mailtos
    [token] = mail_unsubscribe_tokens(recipients=[urlsplit(mailto).path])
    assert Delivery.objects.filter(pk=mail_token_read(token)).exists()

    list_id = LIST_ID.match(str(message["List-Id"]))
    assert list_id, message["List-Id"]
    assert list_id["id"] == f"{list_label}.example.com"

    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert text.strip() and message.get_body(preferencelist=("plain",)).get_content_type() == "text/plain"
    assert f'href="{https[0]}"' in html, "the footer's unsubscribe is the header's"
    assert re.search(r">Unsubscribe[^<]*</a>", html) and "Unsubscribe" in text and https[0] in text
    assert "Bulletin, 1 Example Street, Springfield" in html and "Bulletin, 1 Example Street, Springfield" in text
    assert len(html.encode()) < GMAIL_CLIPS_AT and len(message.as_bytes()) < 2 * GMAIL_CLIPS_AT

    one_click = Client(enforce_csrf_checks=True).post(
        urlsplit(https[0]).path, {"List-Unsubscribe": "One-Click"}, HTTP_HOST="bulletin.example.com", secure=True
    )
    assert one_click.status_code == 200 and one_click.content.startswith(b"Unsubscribed.")


def test_every_list_message_passes_the_email_audit(
    audited, publisher, email_channel, outbox, django_capture_on_commit_callbacks, settings
):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "bulletin.example.com"]
    messages = sent_messages(publisher, django_capture_on_commit_callbacks, outbox)
    assert set(messages) == {"newsletter", "alert", "digest"}
    audit(messages["newsletter"], list_label="news.product")
    audit(messages["alert"], list_label="news")
    audit(messages["digest"], list_label="daily-digest")
    assert str(messages["alert"]["List-Id"]) == '"News" <news.example.com>'


def test_without_an_inbound_route_no_mailto_is_emitted(
    publisher, email_channel, outbox, django_capture_on_commit_callbacks, settings
):
    settings.LIST_UNSUBSCRIBE_MAILTO = ""
    messages = sent_messages(publisher, django_capture_on_commit_callbacks, outbox)
    for message in messages.values():
        assert "mailto:" not in message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
