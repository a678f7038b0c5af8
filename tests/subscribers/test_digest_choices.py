"""A digest is offered only on a channel kind that carries one (the adapter registry says which):
the preference centre, the API and the service agree."""

import pytest

from channels_app.adapters import ADAPTERS, digest_kinds, personal_kinds
from core.exceptions import ApplicationError
from core.roles import Role
from subscribers.forms import PreferencesForm
from subscribers.models import ConsentRecord, Subscription
from subscribers.services import ConsentContext, SubscriptionChoice, subscriber_preferences_update
from tests.factories import SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/subscribers"


def test_the_kinds_that_carry_digests_are_the_registrys_email_slack_and_webhook_not_discord():
    assert digest_kinds() == ["email", "slack", "webhook"]
    assert ADAPTERS["discord"].carries_digests is False


def test_the_preference_centre_offers_daily_and_weekly_exactly_where_the_kind_carries_digests():
    topic = TopicFactory(slug="news")
    form = PreferencesForm(subscriber=SubscriberFactory(), topics=[topic])
    for kind in personal_kinds():
        offered = [value for value, _ in form.fields[PreferencesForm.frequency_field(topic, kind)].choices]
        digests = ["daily", "weekly"] if ADAPTERS[kind].carries_digests else []
        assert offered == ["instant", *digests, "off"]
    assert not any(name.endswith("_discord") for name in form.fields), "a broadcast-only kind has no cell"


def test_the_api_refuses_a_digest_on_a_kind_that_cannot_carry_one_naming_the_field(client_for):
    TopicFactory(slug="news")
    subscriber = SubscriberFactory(webhook_url="https://hooks.example.com/ada")
    response = client_for(Role.PUBLISHER).patch(
        f"{URL}/{subscriber.pk}",
        {"subscriptions": [{"topic": "news", "channel_kind": "discord", "frequency": "daily"}]},
        format="json",
    )
    assert response.status_code == 400
    # Field errors name the entry (its index) and its field.
    assert response.json()["extra"]["fields"]["subscriptions"]["0"] == {
        "channel_kind": ["'discord' cannot receive personal messages or digests; choose one of email, slack, webhook."]
    }
    assert not Subscription.objects.exists()


def test_the_service_refuses_a_digest_on_a_kind_that_cannot_carry_one_for_admin_and_shell_too():
    topic = TopicFactory(slug="news")
    subscriber = SubscriberFactory()
    with pytest.raises(ApplicationError) as caught:
        subscriber_preferences_update(
            subscriber=subscriber,
            context=ConsentContext(method=ConsentRecord.Method.ADMIN),
            subscriptions=[SubscriptionChoice(topic=topic, channel_kind="discord", frequency="weekly")],
        )
    assert caught.value.status_code == 400
    assert caught.value.extra["fields"]["subscriptions"] == [
        "news: 'discord' cannot receive personal messages or digests; choose one of email, slack, webhook."
    ]
    assert not Subscription.objects.exists()


def test_a_digest_on_slack_and_on_a_personal_webhook_is_accepted(client_for):
    TopicFactory(slug="news")
    subscriber = SubscriberFactory(slack_member_id="U0ADA0001", webhook_url="https://hooks.example.com/ada")
    response = client_for(Role.PUBLISHER).patch(
        f"{URL}/{subscriber.pk}",
        {
            "subscriptions": [
                {"topic": "news", "channel_kind": "slack", "frequency": "daily"},
                {"topic": "news", "channel_kind": "webhook", "frequency": "weekly"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert set(subscriber.subscriptions.values_list("channel_kind", "frequency")) == {
        ("slack", "daily"),
        ("webhook", "weekly"),
    }
