import pytest
from django.db import IntegrityError, transaction

from subscribers.models import Subscriber
from tests.factories import SubscriberFactory, SubscriptionFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db


def test_it_refuses_the_same_email_in_another_case():
    SubscriberFactory(email="ada@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriberFactory(email="Ada@Example.COM")
    assert Subscriber.objects.count() == 1


def test_email_lookup_by_lower_finds_any_case():
    subscriber = SubscriberFactory(email="grace@example.com")
    assert Subscriber.objects.get(email__lower="grace@example.com") == subscriber


def test_it_refuses_a_digest_hour_out_of_range():
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriberFactory(digest_hour=24)


def test_it_refuses_an_unknown_status():
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriberFactory(status="vip")


def test_it_refuses_two_subscriptions_for_the_same_topic_and_kind():
    subscription = SubscriptionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionFactory(subscriber=subscription.subscriber, topic=subscription.topic)


def test_the_same_topic_on_another_channel_kind_is_a_separate_subscription():
    subscription = SubscriptionFactory()
    other = SubscriptionFactory(subscriber=subscription.subscriber, topic=subscription.topic, channel_kind="slack")
    assert other.pk != subscription.pk


def test_it_refuses_an_unknown_frequency():
    with pytest.raises(IntegrityError), transaction.atomic():
        SubscriptionFactory(frequency="hourly")


def test_it_refuses_a_second_suppression_of_the_same_address():
    entry = SuppressionFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        SuppressionFactory(email=entry.email.upper())


def test_topic_slugs_are_unique():
    TopicFactory(slug="news")
    with pytest.raises(IntegrityError), transaction.atomic():
        TopicFactory._meta.model.objects.create(slug="news", name="Other news")
