"""The subscribers endpoints of SPEC §5: create-or-update, filters, preference updates, errors."""

import datetime
import re

import pytest
from django.utils import timezone

from core.roles import Role
from subscribers.api.serializers import SUBSCRIBE_ACCEPTED
from subscribers.models import ConsentRecord, Subscriber, Subscription
from tests.factories import (
    PendingSubscriberFactory,
    SubscriberFactory,
    SubscriptionFactory,
    SuppressionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/subscribers"


@pytest.fixture
def news():
    return TopicFactory(slug="news")


def test_an_editor_creates_a_pending_subscriber_who_gets_a_confirmation_email(
    client_for, news, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(Role.EDITOR).post(
            URL,
            {"email": "Ada@Example.com", "name": "Ada", "topics": ["news"], "timezone": "Europe/Paris"},
            format="json",
        )
    assert response.status_code == 202, response.json()
    assert response.json()["email"] == "ada@example.com"
    ada = Subscriber.objects.get()
    assert (ada.email, ada.status, ada.timezone) == ("ada@example.com", "pending", "Europe/Paris")
    assert list(ada.subscriptions.values_list("topic__slug", "channel_kind", "frequency")) == [
        ("news", "email", "instant")
    ]
    assert len(mailoutbox) == 1
    assert ConsentRecord.objects.get().method == "api"


def test_create_answers_the_same_status_for_new_and_existing_addresses(client_for):
    client = client_for(Role.EDITOR)
    first = client.post(URL, {"email": "ada@example.com"}, format="json")
    second = client.post(URL, {"email": "ADA@example.com"}, format="json")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert Subscriber.objects.count() == 1


def test_a_publisher_creates_confirmed_subscribers(client_for, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(Role.PUBLISHER).post(
            URL,
            {"email": "ada@example.com", "confirmed": True, "consent_wording": "Opted in at the booth"},
            format="json",
        )
    assert response.status_code == 202
    assert Subscriber.objects.get().status == "active"
    record = ConsentRecord.objects.get()
    assert (record.action, record.wording) == ("created_confirmed", "Opted in at the booth")
    assert mailoutbox == []


def test_an_editor_asking_for_confirmed_gets_a_403_with_a_field_error(client_for):
    response = client_for(Role.EDITOR).post(URL, {"email": "ada@example.com", "confirmed": True}, format="json")
    assert response.status_code == 403
    body = response.json()
    assert body["message"] == "Only publishers can create confirmed subscribers."
    assert "confirmed" in body["extra"]["fields"]
    assert not Subscriber.objects.exists()


def test_a_viewer_cannot_create(client_for):
    assert client_for(Role.VIEWER).post(URL, {"email": "ada@example.com"}, format="json").status_code == 403
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(
    "payload,fields",
    [
        ({"email": "nope"}, {"email"}),
        ({}, {"email"}),
        ({"email": "ada@example.com", "topics": ["missing"]}, {"topics"}),
        ({"email": "ada@example.com", "timezone": "Mars/Base"}, {"timezone"}),
        ({"email": "ada@example.com", "attributes": ["not", "a", "dict"]}, {"attributes"}),
        ({"email": "ada@example.com", "confirmed": "maybe"}, {"confirmed"}),
        ({"email": "ada@example.com", "emial": "typo"}, {"emial"}),
        ({"email": "ada@example.com", "name": "x" * 201}, {"name"}),
    ],
)
def test_bad_input_is_a_json_field_error_and_writes_nothing(client_for, news, payload, fields):
    response = client_for(Role.PUBLISHER).post(URL, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Validation error"
    assert set(body["extra"]["fields"]) == fields
    assert not Subscriber.objects.exists()


def test_an_erased_or_bounced_address_is_accepted_but_left_alone(client_for):
    from subscribers.models import Suppression, email_hash

    Suppression.objects.create(email="", email_hash=email_hash("gone@example.com"), reason="erased")
    response = client_for(Role.PUBLISHER).post(URL, {"email": "gone@example.com", "confirmed": True}, format="json")
    assert response.status_code == 202
    assert response.json() == {"email": "gone@example.com", "message": SUBSCRIBE_ACCEPTED}
    bounced = SubscriberFactory(email="b@example.com", status="bounced")
    SuppressionFactory(email="b@example.com", reason="hard_bounce")
    response = client_for(Role.PUBLISHER).post(URL, {"email": "b@example.com", "confirmed": True}, format="json")
    assert response.status_code == 202 and response.json() == {"email": "b@example.com", "message": SUBSCRIBE_ACCEPTED}
    bounced.refresh_from_db()
    assert bounced.status == "bounced" and not Subscriber.objects.filter(email="gone@example.com").exists()


@pytest.fixture
def ada_active(news):
    ada = SubscriberFactory(email="ada@example.com", name="Ada", timezone="UTC", attributes={"plan": "pro"})
    SubscriptionFactory(subscriber=ada, topic=TopicFactory(slug="product"))
    return ada


def test_an_editor_cannot_change_an_existing_confirmed_subscriber_whose_new_topics_need_opt_in(
    client_for, news, ada_active, client, mailoutbox, django_capture_on_commit_callbacks
):
    payload = {
        "email": "ADA@example.com",
        "name": "Mallory",
        "timezone": "Asia/Tokyo",
        "locale": "fr",
        "attributes": {"plan": "free"},
        "topics": ["news", "product"],
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(Role.EDITOR).post(URL, payload, format="json")
    assert response.status_code == 202
    ada_active.refresh_from_db()
    assert (ada_active.name, ada_active.timezone, ada_active.locale, ada_active.attributes) == (
        "Ada",
        "UTC",
        "en",
        {"plan": "pro"},
    )
    assert list(ada_active.subscriptions.values_list("topic__slug", flat=True)) == ["product"]
    assert not ada_active.consent_records.exists()
    # The owner gets one opt-in link, for the topic they do not follow yet.
    [message] = mailoutbox
    assert message.to == ["ada@example.com"] and "News" in message.body and "Product" not in message.body
    [link] = re.findall(r"https?://\S+/confirm/\S+", message.body)
    path = "/" + link.split("://", 1)[1].split("/", 1)[1]
    assert "News" in client.get(path).content.decode(), "GET only shows what confirming does"
    assert list(ada_active.subscriptions.values_list("topic__slug", flat=True)) == ["product"]
    assert client.post(path).status_code == 302
    assert sorted(ada_active.subscriptions.values_list("topic__slug", flat=True)) == ["news", "product"]
    record = ada_active.consent_records.get()
    assert (record.action, record.method) == ("confirmed", "link") and "Topic: News" in record.wording


def test_a_publisher_may_update_an_existing_subscriber_directly(client_for, news, ada_active):
    payload = {"email": "ada@example.com", "name": "Ada Lovelace", "topics": ["news"]}
    assert client_for(Role.PUBLISHER).post(URL, payload, format="json").status_code == 202
    ada_active.refresh_from_db()
    assert ada_active.name == "Ada Lovelace"
    assert sorted(ada_active.subscriptions.values_list("topic__slug", flat=True)) == ["news", "product"]
    assert ada_active.consent_records.get().action == "preferences_changed"


@pytest.mark.parametrize("role", [Role.EDITOR, Role.PUBLISHER], ids=["editor", "publisher"])
def test_the_answer_never_tells_whether_an_address_was_known(client_for, news, ada_active, role):
    from subscribers.models import Suppression, email_hash

    PendingSubscriberFactory(email="pending@example.com")
    SubscriberFactory(email="left@example.com", status="unsubscribed")
    Suppression.objects.create(email="", email_hash=email_hash("erased@example.com"), reason="erased")
    client = client_for(role)
    answers = {}
    for email in (
        "new@example.com",
        "ada@example.com",
        "pending@example.com",
        "left@example.com",
        "erased@example.com",
    ):
        response = client.post(URL, {"email": email.upper(), "topics": ["news"]}, format="json")
        answers[email] = (response.status_code, response.json())
    assert {status for status, _ in answers.values()} == {202}
    assert all(body == {"email": email, "message": SUBSCRIBE_ACCEPTED} for email, (_, body) in answers.items())


def test_list_filters_by_status_topic_created_range_and_search(client_for, news):
    old = SubscriberFactory(email="old@example.com", name="Old Timer")
    Subscriber.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=30))
    SubscriptionFactory(subscriber=SubscriberFactory(email="reader@example.com"), topic=news)
    SubscriptionFactory(subscriber=SubscriberFactory(email="muted@example.com"), topic=news, frequency="off")
    SubscriberFactory(email="waiting@example.com", status="pending")
    client = client_for(Role.VIEWER)

    def emails(**params):
        response = client.get(URL, params)
        assert response.status_code == 200
        return {r["email"] for r in response.json()["results"]}

    assert emails(status="pending") == {"waiting@example.com"}
    assert emails(topic="news") == {"reader@example.com"}
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert "old@example.com" not in emails(created_after=since)
    assert emails(created_before=since) == {"old@example.com"}
    assert emails(search="timer") == {"old@example.com"}


def test_a_bad_filter_value_is_a_400_not_a_500(client_for):
    response = client_for(Role.VIEWER).get(URL, {"status": "vip", "created_after": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"status", "created_after"}


def test_a_publisher_updates_preferences_and_subscriptions(client_for, news):
    subscriber = SubscriberFactory()
    response = client_for(Role.PUBLISHER).patch(
        f"{URL}/{subscriber.pk}",
        {
            "digest_hour": 18,
            "timezone": "Asia/Tokyo",
            "slack_member_id": "U0123ABCD",
            "subscriptions": [
                {"topic": "news", "channel_kind": "slack", "frequency": "daily"},
                {"topic": "news", "frequency": "weekly"},
            ],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["digest_hour"], body["timezone"], body["slack_member_id"]) == (18, "Asia/Tokyo", "U0123ABCD")
    assert {(s["channel_kind"], s["frequency"]) for s in body["subscriptions"]} == {
        ("slack", "daily"),
        ("email", "weekly"),
    }
    assert ConsentRecord.objects.get(subscriber=subscriber).action == "preferences_changed"


@pytest.mark.parametrize(
    "payload,fields",
    [
        ({"digest_hour": 24}, {"digest_hour"}),
        ({"digest_hour": "eight"}, {"digest_hour"}),
        ({"webhook_url": "http://insecure.example.com"}, {"webhook_url"}),
        ({"paused_until": "2000-01-01T00:00:00Z"}, {"paused_until"}),
        ({"email": "new@example.com"}, {"email"}),
        ({"status": "active"}, {"status"}),
        ({"subscriptions": [{"topic": "news", "channel_kind": "webhook", "frequency": "instant"}]}, {"subscriptions"}),
        ({"subscriptions": [{"topic": "news", "frequency": "hourly"}]}, {"subscriptions"}),
    ],
)
def test_a_bad_preference_update_changes_nothing(client_for, news, payload, fields):
    subscriber = SubscriberFactory(digest_hour=8)
    response = client_for(Role.PUBLISHER).patch(f"{URL}/{subscriber.pk}", {**payload, "name": "Changed"}, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()["extra"]["fields"]) == fields
    subscriber.refresh_from_db()
    assert subscriber.name != "Changed" and subscriber.digest_hour == 8
    assert not Subscription.objects.exists()


def test_editors_cannot_change_preferences_and_put_is_not_offered(client_for):
    subscriber = SubscriberFactory()
    assert client_for(Role.EDITOR).patch(f"{URL}/{subscriber.pk}", {"name": "X"}, format="json").status_code == 403
    assert client_for(Role.ADMIN).put(f"{URL}/{subscriber.pk}", {"name": "X"}, format="json").status_code == 405


def test_malformed_json_is_a_400(client_for):
    response = client_for(Role.EDITOR).post(URL, data="{oops", content_type="application/json")
    assert response.status_code == 400
