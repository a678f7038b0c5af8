import datetime

import pytest
from django.utils import timezone

from core.exceptions import ApplicationError
from core.roles import Role
from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression
from subscribers.services import ConsentContext, subscriber_subscribe
from subscribers.services.subscribe import subscriber_activate
from tests.factories import (
    PendingSubscriberFactory,
    SubscriberFactory,
    SubscriptionFactory,
    SuppressionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db


def _subscribe(context, email="Ada@Example.com", **kwargs):
    return subscriber_subscribe(email=email, context=context, **kwargs)


def test_a_new_address_becomes_a_pending_subscriber_and_gets_one_confirmation_email(
    form_context, mailoutbox, django_capture_on_commit_callbacks
):
    news = TopicFactory(slug="news")
    with django_capture_on_commit_callbacks(execute=True):
        subscriber = _subscribe(form_context, topics=[news], wording="Yes please", profile={"name": "Ada"})
    assert (subscriber.email, subscriber.status, subscriber.name) == ("ada@example.com", "pending", "Ada")
    assert list(subscriber.subscriptions.values_list("topic__slug", "frequency")) == [("news", "instant")]
    record = subscriber.consent_records.get()
    assert (record.action, record.method, record.wording, record.ip_address, record.user_agent) == (
        "subscribed",
        "form",
        "Yes please",
        "203.0.113.7",
        "pytest-browser",
    )
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["ada@example.com"]
    assert "/confirm/" in message.body
    assert message.alternatives[0][1] == "text/html" and "/confirm/" in message.alternatives[0][0]


def test_nothing_is_mailed_when_the_transaction_rolls_back(
    form_context, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        _subscribe(form_context)
    assert len(callbacks) == 1 and mailoutbox == []


@pytest.mark.parametrize("email", ["", "not-an-email", "a@b", "x" * 250 + "@example.com", "ada@@example.com"])
def test_a_malformed_address_is_a_field_error_and_writes_nothing(form_context, email):
    with pytest.raises(ApplicationError) as caught:
        _subscribe(form_context, email=email)
    assert "email" in caught.value.extra["fields"]
    assert not Subscriber.objects.exists()


def test_resubscribing_a_pending_address_resends_at_most_once_per_interval(
    form_context, mailoutbox, settings, django_capture_on_commit_callbacks
):
    settings.SUBSCRIBE_CONFIRMATION_RESEND_INTERVAL = 300
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(form_context)
        _subscribe(form_context, email="ADA@example.com")
    assert len(mailoutbox) == 1
    Subscriber.objects.update(last_confirmation_sent_at=timezone.now() - datetime.timedelta(seconds=301))
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(form_context)
    assert len(mailoutbox) == 2
    assert Subscriber.objects.count() == 1


def test_the_form_never_changes_an_active_subscriber_but_mails_them_their_preferences_link(
    form_context, mailoutbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory(email="ada@example.com", name="Ada")
    news = TopicFactory()
    with django_capture_on_commit_callbacks(execute=True):
        result = _subscribe(form_context, topics=[news], profile={"name": "Mallory"})
    subscriber.refresh_from_db()
    assert (result.pk, subscriber.name, subscriber.status) == (subscriber.pk, "Ada", "active")
    assert not subscriber.subscriptions.exists()
    assert not subscriber.consent_records.exists()
    assert len(mailoutbox) == 1 and "/preferences/" in mailoutbox[0].body


def test_an_unsubscribed_person_who_subscribes_again_goes_through_double_opt_in(
    form_context, mailoutbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory(email="ada@example.com", status="unsubscribed")
    SuppressionFactory(email="ada@example.com", reason=Suppression.Reason.UNSUBSCRIBED)
    news = TopicFactory()
    SubscriptionFactory(subscriber=subscriber, topic=news, frequency="off")
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(form_context, topics=[news])
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"
    assert subscriber.subscriptions.get().frequency == "instant"
    assert Suppression.objects.filter(email="ada@example.com").exists(), "lifted only on confirmation"
    assert "/confirm/" in mailoutbox[0].body


def test_a_subscriber_suppressed_for_inactivity_who_subscribes_again_confirms_and_is_lifted(
    form_context, mailoutbox, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory(email="ada@example.com", status="active")
    SuppressionFactory(email="ada@example.com", reason=Suppression.Reason.INACTIVE)
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(form_context, topics=[TopicFactory()])
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"
    assert Suppression.objects.filter(email="ada@example.com").exists(), "lifted only on confirmation"
    assert "/confirm/" in mailoutbox[0].body
    subscriber_activate(
        subscriber=subscriber, context=form_context, action=ConsentRecord.Action.CONFIRMED, wording="yes"
    )
    assert not Suppression.objects.filter(email="ada@example.com").exists()


@pytest.mark.parametrize("reason", ["hard_bounce", "complaint", "manual", "soft_bounce"])
def test_a_suppressed_address_is_neither_reactivated_nor_mailed(
    form_context, mailoutbox, reason, django_capture_on_commit_callbacks
):
    subscriber = SubscriberFactory(email="ada@example.com", status="bounced")
    SuppressionFactory(email="ada@example.com", reason=reason)
    with django_capture_on_commit_callbacks(execute=True):
        result = _subscribe(form_context, topics=[TopicFactory()])
    subscriber.refresh_from_db()
    assert result == subscriber and subscriber.status == "bounced"
    assert mailoutbox == [] and not subscriber.consent_records.exists()


def test_an_erased_address_creates_nothing(form_context, mailoutbox, django_capture_on_commit_callbacks):
    from subscribers.models import email_hash

    Suppression.objects.create(email="", email_hash=email_hash("ada@example.com"), reason="erased")
    with django_capture_on_commit_callbacks(execute=True):
        assert _subscribe(form_context) is None
    assert not Subscriber.objects.exists() and mailoutbox == []


def test_a_publisher_creates_a_confirmed_subscriber_with_a_consent_record(
    make_user, mailoutbox, django_capture_on_commit_callbacks
):
    publisher = make_user(Role.PUBLISHER)
    context = ConsentContext(method=ConsentRecord.Method.API, source="partner form", actor=publisher)
    with django_capture_on_commit_callbacks(execute=True):
        subscriber = _subscribe(context, confirmed=True, wording="Ticked the box on partner.example")
    assert subscriber.status == "active" and subscriber.confirmed_at is not None
    record = subscriber.consent_records.get()
    assert (record.action, record.actor, record.wording) == (
        "created_confirmed",
        publisher,
        "Ticked the box on partner.example",
    )
    assert mailoutbox == []


@pytest.mark.parametrize("role", [None, Role.VIEWER, Role.EDITOR])
def test_below_publisher_the_confirmed_flag_is_refused_with_a_403_field_error(make_user, role):
    context = ConsentContext(method=ConsentRecord.Method.API, actor=make_user(role))
    with pytest.raises(ApplicationError) as caught:
        _subscribe(context, confirmed=True)
    assert caught.value.status_code == 403
    assert "confirmed" in caught.value.extra["fields"]
    assert not Subscriber.objects.exists()


def test_confirmed_never_reactivates_someone_who_unsubscribed(make_user, django_capture_on_commit_callbacks):
    subscriber = SubscriberFactory(email="ada@example.com", status="unsubscribed")
    context = ConsentContext(method=ConsentRecord.Method.API, actor=make_user(Role.PUBLISHER))
    with django_capture_on_commit_callbacks(execute=True):
        _subscribe(context, confirmed=True)
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"


def test_a_publisher_adds_topics_and_updates_the_profile_of_an_active_subscriber(make_user):
    subscriber = SubscriberFactory(email="ada@example.com", attributes={"plan": "free"})
    news = TopicFactory()
    context = ConsentContext(method=ConsentRecord.Method.API, actor=make_user(Role.PUBLISHER))
    _subscribe(context, topics=[news], profile={"timezone": "Europe/Paris", "attributes": {"team": "core"}})
    subscriber.refresh_from_db()
    assert subscriber.timezone == "Europe/Paris"
    assert subscriber.attributes == {"plan": "free", "team": "core"}
    assert Subscription.objects.filter(subscriber=subscriber, topic=news).exists()
    assert subscriber.consent_records.get().action == "preferences_changed"


@pytest.mark.parametrize("status", ["active", "pending"])
def test_an_editor_changes_nothing_of_an_existing_subscriber(make_user, status):
    """Editors create (pending) subscribers; changing someone who exists needs the publisher role."""
    subscriber = SubscriberFactory(email="ada@example.com", name="Ada", status=status, attributes={"plan": "pro"})
    context = ConsentContext(method=ConsentRecord.Method.API, actor=make_user(Role.EDITOR))
    _subscribe(context, profile={"name": "Mallory", "timezone": "Asia/Tokyo", "attributes": {"plan": "free"}})
    subscriber.refresh_from_db()
    assert (subscriber.name, subscriber.timezone, subscriber.attributes) == ("Ada", "UTC", {"plan": "pro"})


def test_an_invalid_profile_is_refused_and_writes_nothing(make_user):
    context = ConsentContext(method=ConsentRecord.Method.API, actor=make_user(Role.EDITOR))
    with pytest.raises(ApplicationError) as caught:
        _subscribe(context, profile={"timezone": "Mars/Olympus", "name": "x" * 201, "shoe_size": 9})
    assert set(caught.value.extra["fields"]) == {"timezone", "name", "shoe_size"}
    assert not Subscriber.objects.exists()


def test_an_existing_pending_subscriber_is_found_whatever_the_case(form_context):
    PendingSubscriberFactory(email="ada@example.com")
    _subscribe(form_context, email="  ADA@EXAMPLE.COM ")
    assert Subscriber.objects.count() == 1
