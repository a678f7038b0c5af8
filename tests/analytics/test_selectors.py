"""Selectors other apps read: engagement per publication, per A/B variant, per subscriber."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import DeliveryEngagement, SubscriberEngagement
from analytics.selectors import publication_engagement, send_variant_engagement, subscriber_engagement
from tests.factories import DailyRollupFactory, PublicationFactory, SendFactory

pytestmark = pytest.mark.django_db


def test_publication_engagement_sums_every_send_and_day(email_channel):
    publication = PublicationFactory()
    for day in range(2):
        DailyRollupFactory(
            send=SendFactory(publication=publication),
            channel=email_channel,
            publication=publication,
            day=timezone.now().date() - timedelta(days=day),
            sent=100,
            unique_opens=30,
            unique_clickers=5,
        )
    [row] = publication_engagement(publication_ids=[publication.pk]).values()
    assert (row["sent"], row["unique_opens"], row["open_rate"], row["click_rate"]) == (200, 60, 0.3, 0.05)


def test_send_variant_engagement_compares_the_variants_of_an_ab_test(make_sent):
    a = make_sent(4, context={"variant": "A"})
    send = a[0].send
    b = make_sent(4, send=send, context={"variant": "B"})
    now = timezone.now()
    for delivery in a[:1] + b[:3]:
        DeliveryEngagement.objects.create(delivery=delivery, first_open_at=now)
    DeliveryEngagement.objects.filter(delivery=b[0]).update(first_click_at=now)
    variants = send_variant_engagement(send_id=send.pk)
    assert variants["A"] == {"sent": 4, "unique_opens": 1, "unique_clickers": 0, "open_rate": 0.25, "click_rate": 0.0}
    assert (variants["B"]["unique_opens"], variants["B"]["unique_clickers"]) == (3, 1)


def test_subscriber_engagement_gives_the_last_human_engagement(make_sent):
    [delivery] = make_sent()
    SubscriberEngagement.objects.create(subscriber=delivery.subscriber, last_engaged_at=timezone.now())
    assert subscriber_engagement(subscriber_ids=[delivery.subscriber_id])[delivery.subscriber_id].last_engaged_at


def test_topic_rates_add_up_each_topics_sends_in_three_queries(django_assert_num_queries):
    from analytics.models import SendTopic
    from analytics.selectors import topic_rates
    from tests.factories import TopicFactory

    today = timezone.now().date()
    news, tech, idle = TopicFactory(name="News"), TopicFactory(name="Tech"), TopicFactory(name="Idle")
    both, only_news, untagged = SendFactory(), SendFactory(), SendFactory()
    for send, topics in ((both, [news, tech]), (only_news, [news])):
        for topic in topics:
            SendTopic.objects.create(send=send, topic=topic)
    DailyRollupFactory(send=both, day=today, sent=100, complaints=1)
    DailyRollupFactory(send=both, day=today - timedelta(days=1), sent=50)
    DailyRollupFactory(send=only_news, day=today, sent=10)
    DailyRollupFactory(send=untagged, day=today, sent=999)
    SendTopic.objects.create(send=SendFactory(), topic=idle)
    with django_assert_num_queries(3):
        rows = topic_rates(start=today - timedelta(days=1), end=today)
    assert [(r["topic"], r["sent"], r["complaints"]) for r in rows] == [("News", 160, 1), ("Tech", 150, 1)]
    assert rows[1]["complaint_rate"] == round(1 / 150, 6)
