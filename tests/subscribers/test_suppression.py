"""The suppression list and the selector every audience is built from."""

import datetime

import pytest
from django.utils import timezone

from core.exceptions import ApplicationError
from subscribers.models import Suppression, email_hash
from subscribers.selectors import audience_subscriptions, mailable_subscribers
from subscribers.services import suppression_add, suppression_remove
from tests.factories import SubscriberFactory, SubscriptionFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "reason,status",
    [
        ("hard_bounce", "bounced"),
        ("soft_bounce", "bounced"),
        ("complaint", "complained"),
        ("unsubscribed", "unsubscribed"),
    ],
)
def test_suppressing_an_address_updates_the_subscriber_status(reason, status):
    subscriber = SubscriberFactory(email="ada@example.com")
    entry = suppression_add(email=" ADA@example.com", reason=reason)
    assert (entry.email, entry.email_hash) == ("ada@example.com", email_hash("ada@example.com"))
    subscriber.refresh_from_db()
    assert subscriber.status == status


def test_a_manual_suppression_blocks_mail_without_rewriting_the_status():
    subscriber = SubscriberFactory(email="ada@example.com")
    suppression_add(email="ada@example.com", reason="manual", note="asked by phone")
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert not mailable_subscribers().filter(pk=subscriber.pk).exists()


def test_suppressing_twice_keeps_one_entry_with_the_stronger_reason():
    subscriber = SubscriberFactory(email="ada@example.com")
    suppression_add(email="ada@example.com", reason="complaint")
    suppression_add(email="ada@example.com", reason="unsubscribed")
    assert Suppression.objects.get().reason == "complaint"
    subscriber.refresh_from_db()
    assert subscriber.status == "complained"


def test_an_unsubscribe_outranks_a_sunset_suppression():
    subscriber = SubscriberFactory(email="ada@example.com")
    suppression_add(email="ada@example.com", reason="inactive", note="Sunset policy")
    subscriber.refresh_from_db()
    assert subscriber.status == "active" and not mailable_subscribers().filter(pk=subscriber.pk).exists()
    suppression_add(email="ada@example.com", reason="unsubscribed")
    assert Suppression.objects.get().reason == "unsubscribed"
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    suppression_add(email="ada@example.com", reason="inactive")
    assert Suppression.objects.get().reason == "unsubscribed"


def test_a_bad_address_or_reason_is_a_field_error():
    with pytest.raises(ApplicationError) as caught:
        suppression_add(email="nope", reason="manual")
    assert "email" in caught.value.extra["fields"]
    with pytest.raises(ApplicationError) as caught:
        suppression_add(email="ada@example.com", reason="because")
    assert "reason" in caught.value.extra["fields"]
    assert not Suppression.objects.exists()


@pytest.mark.parametrize("reason", ["hard_bounce", "complaint"])
def test_removing_a_bounce_or_complaint_needs_a_note(reason):
    entry = suppression_add(email="ada@example.com", reason=reason)
    with pytest.raises(ApplicationError) as caught:
        suppression_remove(suppression=entry, note="  ")
    assert "note" in caught.value.extra["fields"]
    assert Suppression.objects.exists()


def test_removing_a_bounce_makes_a_confirmed_subscriber_mailable_again():
    subscriber = SubscriberFactory(email="ada@example.com")
    entry = suppression_add(email="ada@example.com", reason="hard_bounce")
    suppression_remove(suppression=entry, note="Mailbox fixed, confirmed by phone")
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert mailable_subscribers().filter(pk=subscriber.pk).exists()


def test_removing_an_unsubscribe_suppression_does_not_resubscribe_anyone():
    subscriber = SubscriberFactory(email="ada@example.com")
    entry = suppression_add(email="ada@example.com", reason="unsubscribed")
    suppression_remove(suppression=entry)
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    assert not mailable_subscribers().filter(pk=subscriber.pk).exists()


def test_mailable_subscribers_are_active_unpaused_and_unsuppressed(django_assert_num_queries):
    now = timezone.now()
    mailable = SubscriberFactory(email="ok@example.com")
    pause_over = SubscriberFactory(email="back@example.com", paused_until=now - datetime.timedelta(days=1))
    SubscriberFactory(email="paused@example.com", paused_until=now + datetime.timedelta(days=1))
    SubscriberFactory(email="pending@example.com", status="pending")
    SubscriberFactory(email="gone@example.com", status="unsubscribed")
    # Active by status, but the address is on the list: the list wins.
    SubscriberFactory(email="blocked@example.com")
    SuppressionFactory(email="blocked@example.com", reason="hard_bounce")
    with django_assert_num_queries(1):
        emails = set(mailable_subscribers().values_list("email", flat=True))
    assert emails == {mailable.email, pause_over.email}


def test_the_selector_is_a_single_not_exists_query():
    sql = str(mailable_subscribers().query).upper()
    assert "NOT EXISTS" in sql and "SUPPRESSION" in sql


def test_audience_subscriptions_never_include_suppressed_addresses():
    news = TopicFactory()
    ok, blocked = SubscriberFactory(), SubscriberFactory(email="blocked@example.com")
    SubscriptionFactory(subscriber=ok, topic=news)
    SubscriptionFactory(subscriber=blocked, topic=news)
    SubscriptionFactory(subscriber=SubscriberFactory(), topic=news, frequency="daily")
    SuppressionFactory(email="blocked@example.com", reason="complaint")
    audience = audience_subscriptions(topic_ids=[news.pk])
    assert list(audience.values_list("subscriber_id", flat=True)) == [ok.pk]
