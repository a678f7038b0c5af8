"""Outbound events through a REAL Celery worker (Redis broker, the `default` queue), and claims
made by concurrent workers never sending an event twice."""

from __future__ import annotations

import json
import threading
from collections import defaultdict

import pytest
from django.db import connection, transaction

from channels_app.event_models import EventDelivery, EventType
from channels_app.services.event_delivery import event_deliveries_send
from channels_app.services.events import subscriber_event_emit, webhook_endpoint_create
from tests.emulators.fixtures import WEBHOOK_SECRET
from tests.factories import SubscriberFactory
from tests.worker import celery_worker, real_broker, require_real_services, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _endpoint(receiver):
    return webhook_endpoint_create(
        actor=None, name="crm", url=receiver.url("/events"), event_types=list(EventType.values), secret=WEBHOOK_SECRET
    )


@pytest.mark.worker
def test_events_committed_by_a_service_reach_the_endpoint_through_a_real_worker_in_order(
    webhook_receiver, redis_client, tmp_path
):
    require_real_services()
    _endpoint(webhook_receiver)
    readers = SubscriberFactory.create_batch(5)
    sequence = [EventType.SUBSCRIBER_CREATED, EventType.SUBSCRIBER_CONFIRMED, EventType.SUBSCRIBER_UNSUBSCRIBED]
    expected: dict[int, list[str]] = defaultdict(list)
    with (
        real_broker(),
        celery_worker(name="events", pool="solo", queues="default", BULLETIN_VAR_DIR=str(tmp_path / "var")),
    ):
        for event_type in sequence:
            with transaction.atomic():  # each commit asks the worker to deliver
                for reader in readers:
                    event = subscriber_event_emit(type=event_type, subscriber=reader)
                    expected[reader.pk].append(event.public_id)
        wait_for(
            lambda: EventDelivery.objects.filter(state="delivered").count() == 15,
            timeout=60,
            what="15 events delivered by the worker",
        )
    got: dict[int, list[str]] = defaultdict(list)
    for request in webhook_receiver.messages():
        assert request["signature_valid"] and request["status"] == 200
        got[json.loads(request["body"])["data"]["subscriber"]["id"]].append(request["headers"]["webhook-id"])
    assert got == expected  # each once, in each subscriber's order


def test_concurrent_workers_never_send_an_event_twice(webhook_receiver):
    if connection.vendor != "postgresql":
        pytest.skip("claims with FOR UPDATE SKIP LOCKED need PostgreSQL (DATABASE_URL)")
    endpoint = _endpoint(webhook_receiver)
    readers = SubscriberFactory.create_batch(40)
    emitted = [
        subscriber_event_emit(type=t, subscriber=r).public_id
        for t in (EventType.SUBSCRIBER_CREATED, EventType.SUBSCRIBER_CONFIRMED)
        for r in readers
    ]
    start = threading.Barrier(4)

    def work():
        try:
            start.wait(timeout=10)
            while EventDelivery.objects.filter(endpoint=endpoint, state__in=["pending", "sending"]).exists():
                event_deliveries_send(endpoint_id=endpoint.pk, limit=7)
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    ids = [r["headers"]["webhook-id"] for r in webhook_receiver.messages()]
    assert sorted(ids) == sorted(emitted)  # every event, none twice
