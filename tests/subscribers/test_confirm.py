"""Double opt-in links: confirm by POST, never by a GET; tampered, expired, replayed links."""

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from subscribers.links import confirm_url
from subscribers.models import Subscriber, Subscription, Suppression
from subscribers.tokens import TokenPurpose
from tests.factories import (
    PendingSubscriberFactory,
    SubscriberFactory,
    SubscriptionFactory,
    SuppressionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db


def _path(subscriber) -> str:
    return confirm_url(subscriber_id=subscriber.pk).removeprefix(settings.SITE_URL)


def test_a_get_shows_a_button_and_confirms_nothing(client):
    subscriber = PendingSubscriberFactory()
    response = client.get(_path(subscriber))
    assert response.status_code == 200
    assert "Yes, confirm my subscription" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_confirming_activates_and_records_consent_then_opens_the_preference_centre(client):
    subscriber = PendingSubscriberFactory(email="ada@example.com")
    subscriber.consent_records.create(action="subscribed", method="form", wording="Topics: News.")
    response = client.post(_path(subscriber), REMOTE_ADDR="192.0.2.9", HTTP_USER_AGENT="Firefox")
    assert response.status_code == 302 and response["Location"].startswith("/preferences/")
    subscriber.refresh_from_db()
    assert subscriber.status == "active" and subscriber.confirmed_at is not None
    record = subscriber.consent_records.get(action="confirmed")
    assert (record.method, str(record.ip_address), record.user_agent) == ("link", "192.0.2.9", "Firefox")
    assert "I confirm" in record.wording and "Topics: News." in record.wording
    assert "You are subscribed" in client.get(response["Location"]).content.decode()


def test_a_replayed_confirmation_changes_nothing(client):
    subscriber = PendingSubscriberFactory()
    client.post(_path(subscriber))
    again = client.post(_path(subscriber))
    assert again.status_code == 302
    assert subscriber.consent_records.filter(action="confirmed").count() == 1


def test_confirming_after_unsubscribing_again_lifts_the_old_unsubscribe_suppression(client):
    subscriber = PendingSubscriberFactory(email="ada@example.com")
    SuppressionFactory(email="ada@example.com", reason="unsubscribed")
    client.post(_path(subscriber))
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert not Suppression.objects.exists()


def test_an_old_link_never_reactivates_someone_who_unsubscribed_since(client):
    subscriber = PendingSubscriberFactory()
    path = _path(subscriber)
    Subscriber.objects.filter(pk=subscriber.pk).update(
        status="unsubscribed", unsubscribed_at=timezone.now() + datetime.timedelta(seconds=5)
    )
    response = client.post(path)
    assert response.status_code == 410
    assert "can no longer be used" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


def test_a_link_sent_before_an_unsubscribe_cannot_confirm_a_later_resubscription(client):
    subscriber = PendingSubscriberFactory()
    path = _path(subscriber)
    Subscriber.objects.filter(pk=subscriber.pk).update(unsubscribed_at=timezone.now() + datetime.timedelta(seconds=5))
    assert client.post(path).status_code == 410
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


@pytest.mark.parametrize("status", ["bounced", "complained"])
def test_a_bounced_or_complained_address_is_not_confirmed(client, status):
    subscriber = SubscriberFactory(status=status)
    assert client.get(_path(subscriber)).status_code == 410
    assert client.post(_path(subscriber)).status_code == 410
    subscriber.refresh_from_db()
    assert subscriber.status == status


def test_a_pending_address_suppressed_meanwhile_is_not_confirmed(client):
    subscriber = PendingSubscriberFactory(email="ada@example.com")
    SuppressionFactory(email="ada@example.com", reason="hard_bounce")
    assert client.post(_path(subscriber)).status_code == 410
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


@pytest.mark.parametrize("mangle", [lambda t: t[:-3], lambda t: t + "x", lambda t: "abc:def:ghi", lambda t: "%00"])
def test_a_tampered_link_gets_a_friendly_page_asking_for_the_address(client, mangle):
    subscriber = PendingSubscriberFactory()
    token = _path(subscriber).rsplit("/", 1)[1]
    for method in (client.get, client.post):
        response = method(f"/confirm/{mangle(token)}")
        assert response.status_code == 400
        html = response.content.decode()
        assert "incomplete or damaged" in html and 'name="email"' in html
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_a_confirmation_token_is_refused_for_another_purpose(client, token_for):
    subscriber = PendingSubscriberFactory()
    preferences_token = token_for(subscriber, TokenPurpose.PREFERENCES)
    assert client.post(f"/confirm/{preferences_token}").status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_an_expired_link_offers_a_fresh_one_by_email(client, settings, mailoutbox, django_capture_on_commit_callbacks):
    subscriber = PendingSubscriberFactory()
    path = _path(subscriber)
    settings.CONFIRM_TOKEN_MAX_AGE = -1
    response = client.post(path)
    assert response.status_code == 410
    html = response.content.decode()
    assert "This link has expired." in html and 'name="token"' in html
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"
    settings.CONFIRM_TOKEN_MAX_AGE = 3600
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post("/links/new", {"token": path.rsplit("/", 1)[1], "purpose": "confirm"})
    assert sent.status_code == 200 and "Check your inbox" in sent.content.decode()
    assert len(mailoutbox) == 1 and "/confirm/" in mailoutbox[0].body


def test_a_link_for_an_erased_subscriber_looks_like_any_stale_link(client):
    subscriber = PendingSubscriberFactory()
    path = _path(subscriber)
    subscriber.delete()
    response = client.get(path)
    assert response.status_code == 410 and "no longer works" in response.content.decode()


def test_a_topic_opt_in_link_adds_the_topic_but_not_one_turned_off_after_it_was_sent(client):
    subscriber = SubscriberFactory()
    news, product = TopicFactory(name="News"), TopicFactory(name="Product")
    news_path = confirm_url(subscriber_id=subscriber.pk, topic_id=news.pk).removeprefix(settings.SITE_URL)
    product_path = confirm_url(subscriber_id=subscriber.pk, topic_id=product.pk).removeprefix(settings.SITE_URL)
    SubscriptionFactory(subscriber=subscriber, topic=product, frequency="instant")
    Subscription.objects.filter(topic=product).update(
        frequency="off", updated_at=timezone.now() + datetime.timedelta(seconds=5)
    )
    assert client.post(news_path).status_code == 302
    assert client.post(product_path).status_code == 410, "a used link"
    assert dict(subscriber.subscriptions.values_list("topic__name", "frequency")) == {
        "News": "instant",
        "Product": "off",
    }
