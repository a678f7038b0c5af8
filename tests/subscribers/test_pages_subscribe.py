"""The public subscribe page: double opt-in, honeypot, rate limits, and it never reveals an address."""

import pytest

from subscribers.models import ConsentRecord, Subscriber
from tests.factories import PendingSubscriberFactory, SubscriberFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db

URL = "/subscribe"


@pytest.fixture
def topic():
    return TopicFactory(slug="news", name="News", description="Everything new.")


def _post(client, **data):
    return client.post(URL, data, REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Mozilla/5.0 test")


def test_the_page_lists_public_topics_with_labels_and_a_csrf_token(client, topic):
    TopicFactory(slug="internal", name="Internal", is_public=False)
    response = client.get(URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "News" in html and "Internal" not in html
    assert 'for="id_email"' in html and "csrfmiddlewaretoken" in html
    assert '<html lang="en">' in html and "css/bulletin.css" in html


def test_subscribing_records_the_wording_shown_ip_and_user_agent(
    client, topic, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(client, email="Ada@Example.com", name="Ada", topics=[topic.pk])
    assert response.status_code == 302 and response["Location"] == "/subscribe/thanks"
    subscriber = Subscriber.objects.get()
    record = subscriber.consent_records.get()
    assert (record.action, record.method, str(record.ip_address), record.user_agent) == (
        "subscribed",
        "form",
        "198.51.100.4",
        "Mozilla/5.0 test",
    )
    assert record.wording.startswith("I want to receive emails from") and "Topics: News." in record.wording
    assert record.source.endswith("/subscribe")
    assert len(mailoutbox) == 1


@pytest.mark.parametrize("existing", [None, "pending", "active", "unsubscribed", "suppressed"])
def test_the_answer_is_the_same_whether_or_not_the_address_is_known(client, topic, existing):
    if existing == "suppressed":
        SuppressionFactory(email="ada@example.com", reason="hard_bounce")
    elif existing == "pending":
        PendingSubscriberFactory(email="ada@example.com")
    elif existing:
        SubscriberFactory(email="ada@example.com", status=existing)
    response = _post(client, email="ada@example.com", topics=[topic.pk])
    assert (response.status_code, response["Location"]) == (302, "/subscribe/thanks")
    assert client.get(response["Location"]).status_code == 200


def test_a_malformed_address_redisplays_the_form_with_an_error(client, topic):
    response = _post(client, email="not an email", topics=[topic.pk])
    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Subscriber.objects.exists()


def test_choosing_no_topic_is_an_error_when_topics_exist(client, topic):
    response = _post(client, email="ada@example.com")
    assert response.status_code == 400 and "Choose at least one topic." in response.content.decode()


def test_a_filled_honeypot_looks_like_success_and_does_nothing(client, topic, mailoutbox):
    response = _post(client, email="bot@example.com", topics=[topic.pk], website="http://spam.example")
    assert response.status_code == 302
    assert not Subscriber.objects.exists() and mailoutbox == []


def test_the_form_is_rate_limited_per_ip(client, topic, settings):
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = "3/hour"
    codes = [_post(client, email=f"p{i}@example.com", topics=[topic.pk]).status_code for i in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert Subscriber.objects.count() == 3
    other_ip = client.post(URL, {"email": "q@example.com", "topics": [topic.pk]}, REMOTE_ADDR="198.51.100.5")
    assert other_ip.status_code == 302


def test_the_form_is_rate_limited_per_address_across_ips(client, topic, settings):
    settings.SUBSCRIBE_RATE_LIMIT_PER_EMAIL = "2/hour"
    codes = [
        client.post(URL, {"email": "ADA@example.com", "topics": [topic.pk]}, REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i in range(1, 4)
    ]
    assert codes == [302, 302, 429]


def test_rate_limits_use_redis_when_it_is_configured(client, topic, settings, redis_client):
    from subscribers.ratelimit import KEY_PREFIX

    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = "1/hour"
    assert _post(client, email="a@example.com", topics=[topic.pk]).status_code == 302
    assert _post(client, email="b@example.com", topics=[topic.pk]).status_code == 429
    keys = [k.decode() for k in redis_client.scan_iter(match=f"{KEY_PREFIX}*")]
    assert any(":public-ip:" in k for k in keys)
    assert not any("example.com" in k for k in keys), "addresses are hashed in keys"


def test_x_forwarded_for_is_ignored_unless_proxies_are_declared(client, topic, settings):
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = "1/hour"
    first = client.post(URL, {"email": "a@example.com", "topics": [topic.pk]}, HTTP_X_FORWARDED_FOR="1.1.1.1")
    second = client.post(URL, {"email": "b@example.com", "topics": [topic.pk]}, HTTP_X_FORWARDED_FOR="2.2.2.2")
    assert (first.status_code, second.status_code) == (302, 429)
    settings.TRUSTED_PROXY_COUNT = 1
    third = client.post(URL, {"email": "c@example.com", "topics": [topic.pk]}, HTTP_X_FORWARDED_FOR="3.3.3.3")
    assert third.status_code == 302
    assert str(ConsentRecord.objects.get(subscriber__email="c@example.com").ip_address) == "3.3.3.3"


def test_the_form_refuses_a_post_without_csrf_token(topic):
    from django.test import Client

    response = Client(enforce_csrf_checks=True).post(URL, {"email": "ada@example.com", "topics": [topic.pk]})
    assert response.status_code == 403
    assert not Subscriber.objects.exists()
