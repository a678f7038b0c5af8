"""The services emit outbound events with their change, and a worker delivers them after commit."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.utils import timezone

from channels_app.event_models import EventDelivery, EventType, OutboundEvent
from channels_app.models import Send
from channels_app.services.event_delivery import event_deliveries_sweep
from channels_app.services.events import webhook_endpoint_create
from core.roles import Role
from publishing.services.publish import publication_publish
from subscribers.models import ConsentRecord, Suppression
from subscribers.services.consent import ConsentContext
from subscribers.services.gdpr import subscriber_erase
from subscribers.services.preferences import subscriber_preferences_update
from subscribers.services.subscribe import subscriber_subscribe
from subscribers.services.suppression import suppression_add
from subscribers.services.unsubscribe import subscriber_unsubscribe
from tests.emulators.fixtures import WEBHOOK_SECRET
from tests.factories import PublicationFactory, SendFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(webhook_receiver):
    return webhook_endpoint_create(
        actor=None, name="crm", url=webhook_receiver.url("/events"), event_types=EventType.values, secret=WEBHOOK_SECRET
    )


def _types() -> list[str]:
    return list(OutboundEvent.objects.order_by("pk").values_list("type", flat=True))


def test_a_subscribers_life_is_told_in_order_and_delivered_after_commit(
    endpoint, webhook_receiver, make_user, django_capture_on_commit_callbacks
):
    publisher = make_user(Role.PUBLISHER)
    api = ConsentContext(method=ConsentRecord.Method.API, actor=publisher)
    with django_capture_on_commit_callbacks(execute=True):
        reader = subscriber_subscribe(email="ada@example.com", context=api, confirmed=True)
    with django_capture_on_commit_callbacks(execute=True):
        subscriber_preferences_update(subscriber=reader, context=api, changes={"name": "Ada L."})
    with django_capture_on_commit_callbacks(execute=True):
        subscriber_unsubscribe(subscriber=reader, context=ConsentContext(method=ConsentRecord.Method.LINK))
    expected = ["subscriber.created", "subscriber.confirmed", "subscriber.updated", "subscriber.unsubscribed"]
    assert _types() == expected
    bodies = [json.loads(r["body"]) for r in webhook_receiver.messages()]
    assert [b["type"] for b in bodies] == expected  # delivered by the task each commit enqueued
    assert bodies[2]["data"]["subscriber"]["name"] == "Ada L."
    assert bodies[3]["data"]["scope"]["everything"] is True
    assert all(r["signature_valid"] for r in webhook_receiver.messages())
    assert EventDelivery.objects.filter(state="delivered").count() == 4


def test_nothing_is_delivered_when_the_change_rolls_back(endpoint, webhook_receiver, make_user):
    publisher = make_user(Role.PUBLISHER)
    api = ConsentContext(method=ConsentRecord.Method.API, actor=publisher)
    with pytest.raises(RuntimeError), transaction.atomic():
        subscriber_subscribe(email="ada@example.com", context=api)
        raise RuntimeError("a later step failed")
    assert not OutboundEvent.objects.exists()
    assert webhook_receiver.messages() == []


def test_a_hard_bounce_suppression_is_subscriber_suppressed_but_an_unsubscribe_is_not(endpoint):
    reader = SubscriberFactory()
    suppression_add(email=reader.email, reason=Suppression.Reason.HARD_BOUNCE)
    suppression_add(email=reader.email, reason=Suppression.Reason.HARD_BOUNCE)  # idempotent: no second event
    suppression_add(email="someone@example.com", reason=Suppression.Reason.UNSUBSCRIBED)
    [event] = OutboundEvent.objects.all()
    assert event.type == "subscriber.suppressed" and event.payload["data"]["reason"] == "hard_bounce"
    assert event.subscriber_id == reader.pk


def test_publishing_emits_publication_published_once(endpoint, make_user, topic):
    publication = PublicationFactory(topics=[topic])
    publication_publish(publication=publication, actor=make_user(Role.PUBLISHER))
    publication_publish(publication=publication, actor=make_user(Role.PUBLISHER))
    [event] = OutboundEvent.objects.all()
    data = event.payload["data"]
    assert event.type == "publication.published"
    assert data["publication"]["id"] == publication.pk and data["publication"]["topics"] == ["news"]
    assert len(data["send_ids"]) == 1


def test_the_sweep_emits_send_completed_once_per_finished_send(endpoint):
    SendFactory(status=Send.Status.COMPLETED, finished_at=timezone.now())
    SendFactory(status=Send.Status.SENDING)
    assert event_deliveries_sweep()["send_completed"] == 1
    assert event_deliveries_sweep()["send_completed"] == 0
    [event] = OutboundEvent.objects.all()
    assert event.type == "send.completed"


def test_erasure_scrubs_the_person_from_their_events(endpoint):
    reader = SubscriberFactory(email="gone@example.com")
    suppression_add(email=reader.email, reason=Suppression.Reason.COMPLAINT)
    subscriber_erase(subscriber=reader)
    [event] = OutboundEvent.objects.filter(subscriber_id=reader.pk)
    assert "gone@example.com" not in json.dumps(event.payload)
    assert event.payload["data"]["subscriber"] == {"id": reader.pk, "erased": True}


def test_a_csv_import_emits_subscriber_created_for_each_new_subscriber_in_bulk(endpoint):
    from subscribers.services.imports import import_job_create, subscribers_import

    SubscriberFactory(email="known@example.com")
    raw = b"email,name\nnew1@example.com,One\nnew2@example.com,Two\nknown@example.com,Known\n"
    job = import_job_create(filename="people.csv", content=raw, enqueue=False)
    subscribers_import(job_id=job.pk)
    events = OutboundEvent.objects.order_by("pk")
    emails = [e.payload["data"]["subscriber"]["email"] for e in events]
    assert [e.type for e in events] == ["subscriber.created"] * 2 and sorted(emails) == [
        "new1@example.com",
        "new2@example.com",
    ]
    assert EventDelivery.objects.filter(ordering_key__startswith="subscriber:").count() == 2
