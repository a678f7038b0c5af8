"""RFC 8058 one-click unsubscribe, the confirmation page behind the same URL, idempotency."""

import pytest
from django.conf import settings
from django.test import Client

from subscribers.links import list_unsubscribe_headers, unsubscribe_url
from subscribers.models import ConsentRecord, Subscription, Suppression
from subscribers.selectors import mailable_subscribers
from tests.factories import SubscriberFactory, SubscriptionFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def _path(subscriber, topic=None) -> str:
    url = unsubscribe_url(subscriber_id=subscriber.pk, topic_id=topic.pk if topic else None)
    return url.removeprefix(settings.SITE_URL)


@pytest.fixture
def strict_client():
    """Like a mail provider: no cookies, no CSRF token, CSRF checks enforced."""
    return Client(enforce_csrf_checks=True)


def test_one_click_post_unsubscribes_globally_without_cookie_or_csrf(strict_client):
    subscriber = SubscriberFactory(email="ada@example.com")
    response = strict_client.post(_path(subscriber), ONE_CLICK)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed" and subscriber.unsubscribed_at is not None
    assert Suppression.objects.get(email="ada@example.com").reason == "unsubscribed"
    record = subscriber.consent_records.get()
    assert (record.action, record.method) == ("unsubscribed", "one_click")
    assert not mailable_subscribers().filter(pk=subscriber.pk).exists()


def test_one_click_accepts_a_multipart_body_as_rfc_8058_allows(strict_client):
    subscriber = SubscriberFactory()
    response = strict_client.post(_path(subscriber), ONE_CLICK)  # the test client sends multipart by default
    assert response.status_code == 200
    urlencoded = SubscriberFactory()
    response = strict_client.post(
        _path(urlencoded), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    urlencoded.refresh_from_db()
    assert urlencoded.status == "unsubscribed"


def test_the_url_in_the_list_unsubscribe_header_works_for_one_click(strict_client):
    subscriber = SubscriberFactory()
    header = list_unsubscribe_headers(subscriber_id=subscriber.pk)["List-Unsubscribe"]
    url = header.split(",")[0].strip("<> ")
    assert strict_client.post(url.removeprefix(settings.SITE_URL), ONE_CLICK).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"


def test_one_click_is_idempotent(strict_client):
    subscriber = SubscriberFactory()
    for _ in range(3):
        assert strict_client.post(_path(subscriber), ONE_CLICK).status_code == 200
    assert ConsentRecord.objects.filter(action="unsubscribed").count() == 1
    assert Suppression.objects.count() == 1


def test_a_topic_link_unsubscribes_from_that_topic_only(strict_client):
    subscriber = SubscriberFactory()
    news, sports = TopicFactory(slug="news"), TopicFactory(slug="sports")
    SubscriptionFactory(subscriber=subscriber, topic=news, channel_kind="email")
    SubscriptionFactory(subscriber=subscriber, topic=news, channel_kind="slack")
    SubscriptionFactory(subscriber=subscriber, topic=sports)
    assert strict_client.post(_path(subscriber, news), ONE_CLICK).status_code == 200
    frequencies = dict(
        Subscription.objects.filter(subscriber=subscriber).values_list("topic__slug", "frequency").distinct()
    )
    assert frequencies == {"news": "off", "sports": "instant"}
    subscriber.refresh_from_db()
    assert subscriber.status == "active" and not Suppression.objects.exists()
    assert subscriber.consent_records.get().source == "topic:news"


def test_a_get_never_unsubscribes_and_shows_a_button(client):
    subscriber = SubscriberFactory(email="ada@example.com")
    for _ in range(3):  # link scanners fetch URLs several times
        response = client.get(_path(subscriber))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Unsubscribe from everything?" in html and "ada@example.com" in html
    assert 'method="post"' in html and "csrfmiddlewaretoken" in html
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_the_page_button_unsubscribes_with_a_csrf_token():
    browser = Client(enforce_csrf_checks=True)
    subscriber = SubscriberFactory()
    page = browser.get(_path(subscriber))
    token = page.context["csrf_token"]
    response = browser.post(_path(subscriber), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    assert subscriber.consent_records.get().method == "link"


def test_a_form_post_without_csrf_token_is_refused(strict_client):
    subscriber = SubscriberFactory()
    assert strict_client.post(_path(subscriber), {"anything": "else"}).status_code == 403
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


@pytest.mark.parametrize("body", ["List-Unsubscribe=Yes", "one-click", ""])
def test_a_post_that_is_not_one_click_needs_the_page_and_its_csrf(strict_client, body):
    subscriber = SubscriberFactory()
    response = strict_client.post(_path(subscriber), body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 403
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_a_tampered_token_gets_a_400_and_unsubscribes_no_one(strict_client, client):
    subscriber = SubscriberFactory()
    path = _path(subscriber)[:-3] + "xyz"
    assert strict_client.post(path, ONE_CLICK).status_code == 400
    assert client.get(path).status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_a_token_of_another_purpose_is_refused(strict_client, token_for):
    subscriber = SubscriberFactory()
    assert strict_client.post(f"/u/{token_for(subscriber)}", ONE_CLICK).status_code == 400
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_unsubscribe_links_work_for_months(strict_client, settings):
    subscriber = SubscriberFactory()
    assert settings.UNSUBSCRIBE_TOKEN_MAX_AGE >= 180 * 24 * 3600
    path = _path(subscriber)
    settings.UNSUBSCRIBE_TOKEN_MAX_AGE = -1
    response = strict_client.post(path, ONE_CLICK)
    assert response.status_code == 400 and b"expired" in response.content


def test_an_erased_subscriber_link_answers_200_and_reveals_nothing(strict_client, client):
    subscriber = SubscriberFactory()
    path = _path(subscriber)
    subscriber.delete()
    assert strict_client.post(path, ONE_CLICK).status_code == 200
    assert client.get(path).status_code == 200


def test_a_link_for_a_deleted_topic_never_turns_into_a_global_unsubscribe(strict_client):
    subscriber = SubscriberFactory()
    topic = TopicFactory()
    path = _path(subscriber, topic)
    topic.delete()
    assert strict_client.post(path, ONE_CLICK).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_unsubscribing_keeps_a_stronger_suppression_and_status(strict_client):
    subscriber = SubscriberFactory(email="ada@example.com", status="complained")
    SuppressionFactory(email="ada@example.com", reason="complaint")
    assert strict_client.post(_path(subscriber), ONE_CLICK).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "complained"
    assert Suppression.objects.get().reason == "complaint"
