"""What an unsubscribe stops is what its message stood for (issue 13, item 5): a topic's message
stops that topic on the channel it came by; a multi-topic message or a digest stops every topic it
stood for, on its kind; the pages say exactly what will stop and what stopped."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.conf import settings
from django.test import Client

from channels_app.models import Delivery, Send
from channels_app.rendering import DeliveryRow, prepare
from channels_app.services.deliveries import deliveries_rows
from publishing.services.digests import digests_run
from publishing.services.rendering import publication_content
from subscribers.links import unsubscribe_url
from subscribers.models import Subscription
from tests.factories import (
    ChannelFactory,
    PublicationFactory,
    SendFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def mail_provider():
    """Like a mailbox provider's RFC 8058 POST: no cookies, no CSRF token, CSRF enforced."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def email_channel(db):
    return ChannelFactory(
        kind="email", is_default=True, config={"esp": "outbox", "from_email": "news@lists.example.com"}
    )


@pytest.fixture
def news():
    return TopicFactory(slug="news", name="News")


@pytest.fixture
def product():
    return TopicFactory(slug="product", name="Product")


def frequencies(subscriber) -> dict[tuple[str, str], str]:
    return {
        (s.topic.slug, s.channel_kind): s.frequency
        for s in Subscription.objects.filter(subscriber=subscriber).select_related("topic")
    }


def follows(subscriber, topic, kind="email", frequency="instant"):
    return SubscriptionFactory(subscriber=subscriber, topic=topic, channel_kind=kind, frequency=frequency)


def one_click_target(message) -> str:
    """The HTTPS URL of a rendered email's List-Unsubscribe, as a path."""
    url = re.match(r"<([^>]+)>", message.headers["List-Unsubscribe"]).group(1)
    return url.removeprefix(settings.SITE_URL)


def publication_email(channel, subscriber, *topics):
    publication = PublicationFactory(topics=list(topics), title="Launch day")
    send = SendFactory(publication=publication, content=publication_content(publication=publication))
    row = DeliveryRow(9001, subscriber.email, subscriber.pk, subscriber.name, subscriber.email, 1)
    return prepare(send=send, channel=channel).render(row)


def test_one_click_from_a_topic_message_stops_that_topic_on_that_channel_only(
    email_channel, news, product, mail_provider
):
    ada = SubscriberFactory(slack_member_id="U0ADA0001")
    follows(ada, news)
    follows(ada, news, kind="slack")
    follows(ada, product)
    message = publication_email(email_channel, ada, news)

    response = mail_provider.post(one_click_target(message), ONE_CLICK)

    assert response.status_code == 200
    assert response.content.decode() == (
        "Unsubscribed. You will no longer receive News by email. Other topics and channels are not affected.\n"
    )
    assert frequencies(ada) == {("news", "email"): "off", ("news", "slack"): "instant", ("product", "email"): "instant"}
    ada.refresh_from_db()
    assert ada.status == "active"
    record = ada.consent_records.get()
    assert (record.method, record.source, record.wording) == (
        "one_click",
        "topic:news/email",
        "Unsubscribe from News by Email",
    )


def test_one_click_from_a_multi_topic_message_stops_every_topic_it_stood_for(
    email_channel, news, product, mail_provider
):
    ada = SubscriberFactory(slack_member_id="U0ADA0001")
    sports = TopicFactory(slug="sports", name="Sports")
    for topic in (news, product, sports):
        follows(ada, topic)
    follows(ada, product, kind="slack")
    message = publication_email(email_channel, ada, news, product)

    response = mail_provider.post(one_click_target(message), ONE_CLICK)

    assert "You will no longer receive News and Product by email." in response.content.decode()
    assert frequencies(ada) == {
        ("news", "email"): "off",
        ("product", "email"): "off",
        ("product", "slack"): "instant",
        ("sports", "email"): "instant",
    }


def test_one_click_from_a_digest_stops_everything_the_digest_stood_for(email_channel, news, product, mail_provider):
    ada = SubscriberFactory(digest_hour=8, slack_member_id="U0ADA0001")
    sports = TopicFactory(slug="sports", name="Sports")
    follows(ada, news, frequency="daily")
    follows(ada, product, frequency="daily")
    follows(ada, sports, frequency="instant")  # not in the digest
    follows(ada, news, kind="slack", frequency="daily")  # another channel's digest
    PublicationFactory(topics=[news], published=True, published_at=datetime(2026, 1, 14, 12, tzinfo=UTC))
    digests_run(now=datetime(2026, 1, 15, 8, tzinfo=UTC))
    delivery = Delivery.objects.get(send__kind=Send.Kind.DIGEST)
    [row] = deliveries_rows(ids=[delivery.pk])[delivery.send_id]
    message = prepare(send=delivery.send, channel=email_channel).render(row)

    response = mail_provider.post(one_click_target(message), ONE_CLICK)

    assert response.content.decode() == (
        "Unsubscribed. Your daily digest by email has stopped: News and Product will no longer come by email. "
        "Other topics and channels are not affected.\n"
    )
    assert frequencies(ada) == {
        ("news", "email"): "off",
        ("product", "email"): "off",
        ("sports", "email"): "instant",
        ("news", "slack"): "daily",
    }
    assert message.headers["List-Id"] == '"Bulletin daily digest" <daily-digest.lists.example.com>'


def test_the_page_says_exactly_what_will_stop_and_then_what_stopped(email_channel, news, product):
    browser = Client(enforce_csrf_checks=True)
    ada = SubscriberFactory(email="ada@example.com")
    follows(ada, news)
    follows(ada, product)
    path = one_click_target(publication_email(email_channel, ada, news, product))

    page = browser.get(path)
    html = page.content.decode()
    assert "Unsubscribe from News and Product by email?" in html
    assert "<strong>ada@example.com</strong> will stop receiving News and Product by email." in html
    assert ("news", "email") in frequencies(ada) and frequencies(ada)[("news", "email")] == "instant"

    done = browser.post(path, {"csrfmiddlewaretoken": str(page.context["csrf_token"])})
    html = done.content.decode()
    assert "You are unsubscribed" in html
    assert "You will no longer receive News and Product by email. Other topics and channels are not affected." in html
    assert set(frequencies(ada).values()) == {"off"}


def test_the_everything_link_says_so_and_stops_everything(email_channel, news, mail_provider):
    ada = SubscriberFactory()
    follows(ada, news)
    message = publication_email(email_channel, ada, news)
    everything = message.variables["unsubscribe_all_url"].removeprefix(settings.SITE_URL)
    assert "Unsubscribe from everything?" in Client().get(everything).content.decode()
    response = mail_provider.post(everything, ONE_CLICK)
    assert response.content.decode() == "Unsubscribed. You will not receive any more messages from Bulletin.\n"
    ada.refresh_from_db()
    assert ada.status == "unsubscribed"


def test_a_topic_link_sent_before_scopes_had_a_kind_still_stops_that_topic_on_every_channel(news, mail_provider):
    ada = SubscriberFactory(slack_member_id="U0ADA0001")
    follows(ada, news)
    follows(ada, news, kind="slack")
    old = unsubscribe_url(subscriber_id=ada.pk, topic_id=news.pk).removeprefix(settings.SITE_URL)
    response = mail_provider.post(old, ONE_CLICK)
    assert "You will no longer receive News on any channel." in response.content.decode()
    assert set(frequencies(ada).values()) == {"off"}
