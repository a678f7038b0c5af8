"""The subscribe form other sites embed: CSRF-exempt, double opt-in, rate-limited like /subscribe."""

import pytest
from django.test import Client

from subscribers.models import Subscriber
from tests.factories import SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db

URL = "/subscribe/embed"


@pytest.fixture
def csrf_client():
    """A browser on another site: Django's CSRF check is on, and no token can be sent."""
    return Client(enforce_csrf_checks=True)


def _post(client, **data):
    return client.post(URL, data, REMOTE_ADDR="198.51.100.4", HTTP_ORIGIN="https://partner.example.org")


def test_the_page_shows_a_snippet_posting_here_with_topic_slugs(client, topic):
    TopicFactory(slug="internal", name="Internal", is_public=False)
    html = client.get(URL).content.decode()
    assert 'action="http://127.0.0.1:8000/subscribe/embed"' in html
    assert 'value="news"' in html and "internal" not in html and 'name="website"' in html
    assert "csrfmiddlewaretoken" not in html.split("<pre")[1]


def test_a_post_from_another_site_starts_a_double_opt_in(
    csrf_client, topic, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(csrf_client, email="Ada@Example.com", topics=["news"])
    assert (response.status_code, response["Location"]) == (302, "/subscribe/thanks")
    subscriber = Subscriber.objects.get()
    assert subscriber.status == Subscriber.Status.PENDING
    assert list(subscriber.subscriptions.values_list("topic__slug", flat=True)) == ["news"]
    record = subscriber.consent_records.get()
    assert (record.method, record.source) == ("form", "embed: https://partner.example.org")
    assert "Topics: News." in record.wording
    assert len(mailoutbox) == 1 and "confirm" in mailoutbox[0].subject.lower()


def test_topic_ids_work_too(csrf_client, topic):
    assert _post(csrf_client, email="ada@example.com", topics=[str(topic.pk)]).status_code == 302
    assert Subscriber.objects.filter(email="ada@example.com").exists()


def test_the_regular_subscribe_page_still_requires_its_csrf_token(csrf_client, topic):
    response = csrf_client.post("/subscribe", {"email": "ada@example.com", "topics": [topic.pk]})
    assert response.status_code == 403 and not Subscriber.objects.exists()


def test_a_logged_in_visitor_is_not_acting_as_themselves(csrf_client, topic, admin_user, mailoutbox):
    """A forged post carries the admin's session cookie at most: it still only asks for consent."""
    active = SubscriberFactory(email="ada@example.com", name="Ada")
    csrf_client.force_login(admin_user)
    assert _post(csrf_client, email="ada@example.com", name="Mallory", topics=["news"]).status_code == 302
    active.refresh_from_db()
    assert active.name == "Ada" and not active.subscriptions.filter(topic=topic).exists()


def test_bad_input_is_shown_on_our_subscribe_page_with_the_errors(csrf_client, topic):
    response = _post(csrf_client, email="not an email", topics=["news", "nope"])
    html = response.content.decode()
    assert response.status_code == 400
    assert "Enter a valid email address." in html and "Unknown topic: nope." in html
    assert 'action="/subscribe"' in html and "csrfmiddlewaretoken" in html
    assert not Subscriber.objects.exists()


def test_no_topic_is_an_error(csrf_client, topic):
    response = _post(csrf_client, email="ada@example.com")
    assert response.status_code == 400 and "Choose at least one topic." in response.content.decode()


def test_a_filled_honeypot_looks_like_success_and_does_nothing(csrf_client, topic, mailoutbox):
    response = _post(csrf_client, email="bot@example.com", topics=["news"], website="spam")
    assert response.status_code == 302 and not Subscriber.objects.exists() and mailoutbox == []


def test_it_shares_the_subscribe_page_rate_limits(csrf_client, client, topic, settings):
    settings.SUBSCRIBE_RATE_LIMIT_PER_IP = "2/hour"
    codes = [_post(csrf_client, email=f"p{i}@example.com", topics=["news"]).status_code for i in range(3)]
    assert codes == [302, 302, 429]
    same_ip = client.post("/subscribe", {"email": "q@example.com", "topics": [topic.pk]}, REMOTE_ADDR="198.51.100.4")
    assert same_ip.status_code == 429
    assert Subscriber.objects.count() == 2


def test_other_methods_are_refused(client):
    assert client.put(URL).status_code == 405
