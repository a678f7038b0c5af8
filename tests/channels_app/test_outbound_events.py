"""Outbound events to webhook endpoints: emitted with the change, delivered signed, retried,
in order per subscriber, exactly once per event id, with the circuit and the delivery log."""

from __future__ import annotations

import json
import random
from collections import defaultdict

import pytest
from django.db import transaction

from channels_app.event_models import EventDelivery, EventType, OutboundEvent, WebhookEndpoint
from channels_app.models import CircuitState
from channels_app.services.event_delivery import event_deliveries_replay, event_deliveries_send
from channels_app.services.events import event_emit, subscriber_event_emit, webhook_endpoint_create
from core.exceptions import ApplicationError
from core.roles import Role
from tests.emulators.fixtures import WEBHOOK_SECRET
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

State = EventDelivery.State


def _endpoint(receiver, types=None, path="/events") -> WebhookEndpoint:
    return webhook_endpoint_create(
        actor=None,
        name=f"crm{path}",
        url=receiver.url(path),
        event_types=types or list(EventType.values),
        secret=WEBHOOK_SECRET,
    )


def _run_until_settled(endpoint: WebhookEndpoint, clock, *, step: float = 5.0, limit: int = 2000) -> int:
    """What the beat and workers do, with time moved instead of waited for."""
    for rounds in range(limit):
        event_deliveries_send(endpoint_id=endpoint.pk)
        if not EventDelivery.objects.filter(endpoint=endpoint, state__in=EventDelivery.OPEN_STATES).exists():
            return rounds
        clock.advance(step)
    raise AssertionError("deliveries never settled")


def test_an_endpoint_down_for_a_minute_gets_every_event_once_in_per_subscriber_order(webhook_receiver, clock, settings):
    # Retries are spread with random jitter, so how many rounds in the minute have due work
    # varies: a fixed seed and a threshold the worst spread still reaches keep the circuit's
    # part of the story deterministic (the clock already is).
    random.seed(19)
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    endpoint = _endpoint(webhook_receiver)
    readers = SubscriberFactory.create_batch(3)
    sequence = [EventType.SUBSCRIBER_CREATED, EventType.SUBSCRIBER_CONFIRMED, EventType.SUBSCRIBER_UPDATED]
    emitted: dict[int, list[str]] = defaultdict(list)
    for event_type in sequence:
        for reader in readers:
            emitted[reader.pk].append(subscriber_event_emit(type=event_type, subscriber=reader).public_id)
    webhook_receiver.respond(500)

    outage_started = clock.time()
    while clock.time() - outage_started < 60:
        event_deliveries_send(endpoint_id=endpoint.pk)
        clock.advance(5)
    during_outage = len(webhook_receiver.messages())
    endpoint.refresh_from_db()
    assert endpoint.circuit_state != CircuitState.CLOSED  # the circuit stopped the hammering
    assert EventDelivery.objects.filter(state=State.DELIVERED).count() == 0
    # 3 subscribers: only their first events were tried; the circuit held back most rounds
    assert 3 <= during_outage <= 3 * 12

    webhook_receiver.respond(200)
    _run_until_settled(endpoint, clock)

    requests = webhook_receiver.messages()
    accepted = [r for r in requests if r["status"] == 200]
    accepted_ids = [r["headers"]["webhook-id"] for r in accepted]
    every_id = [event_id for ids in emitted.values() for event_id in ids]
    assert sorted(accepted_ids) == sorted(every_id)  # every event, exactly once
    assert all(r["signature_valid"] for r in requests), [r["signature_error"] for r in requests]
    # Per subscriber, no event was even tried before the one before it was accepted.
    for reader_id, ids in emitted.items():
        done = 0
        for request in requests:
            event_id = request["headers"]["webhook-id"]
            if event_id not in ids:
                continue
            assert ids.index(event_id) == done, f"subscriber {reader_id}: {event_id} before its predecessor"
            if request["status"] == 200:
                done += 1
        assert done == len(ids)
    bodies = {json.loads(r["body"])["data"]["subscriber"]["id"] for r in accepted}
    assert bodies == set(emitted)
    endpoint.refresh_from_db()
    assert endpoint.circuit_state == CircuitState.CLOSED
    assert EventDelivery.objects.filter(state=State.DELIVERED).count() == 9
    delivery = EventDelivery.objects.get(event__public_id=emitted[readers[0].pk][0])
    log = list(delivery.log.order_by("pk").values_list("status_code", "ok"))
    assert log[0] == (500, False) and log[-1] == (200, True)


def test_a_refused_event_is_failed_at_once_and_the_next_one_goes_ahead(webhook_receiver, clock):
    endpoint = _endpoint(webhook_receiver)
    reader = SubscriberFactory()
    first = subscriber_event_emit(type=EventType.SUBSCRIBER_CREATED, subscriber=reader)
    second = subscriber_event_emit(type=EventType.SUBSCRIBER_UPDATED, subscriber=reader)
    webhook_receiver.respond(400)
    event_deliveries_send(endpoint_id=endpoint.pk)
    assert EventDelivery.objects.get(event=first).state == State.FAILED
    webhook_receiver.respond(200)
    event_deliveries_send(endpoint_id=endpoint.pk)
    assert EventDelivery.objects.get(event=second).state == State.DELIVERED
    assert len(webhook_receiver.messages()) == 2  # 4xx is not retried


def test_410_gone_disables_the_endpoint_and_keeps_its_events(webhook_receiver, clock):
    endpoint = _endpoint(webhook_receiver)
    event = subscriber_event_emit(type=EventType.SUBSCRIBER_CREATED, subscriber=SubscriberFactory())
    webhook_receiver.respond(410)
    event_deliveries_send(endpoint_id=endpoint.pk)
    endpoint.refresh_from_db()
    assert not endpoint.is_active and "410" in endpoint.disabled_reason
    assert EventDelivery.objects.get(event=event).state == State.PENDING
    event_deliveries_send(endpoint_id=endpoint.pk)
    assert len(webhook_receiver.messages()) == 1


def test_an_event_gives_up_after_the_maximum_attempts_and_a_replay_sends_it_again(
    webhook_receiver, clock, settings, make_user
):
    settings.EVENT_DELIVERY_MAX_ATTEMPTS = 2
    settings.CIRCUIT_FAILURE_THRESHOLD = 100
    endpoint = _endpoint(webhook_receiver)
    event = event_emit(type=EventType.PUBLICATION_PUBLISHED, data={"publication": {"id": 1}})
    webhook_receiver.respond(503)
    _run_until_settled(endpoint, clock, step=60)
    delivery = EventDelivery.objects.get(event=event)
    assert (delivery.state, delivery.attempts) == (State.DEAD, 2)
    assert "gave up after 2 attempts" in delivery.last_error

    with pytest.raises(ApplicationError):
        event_deliveries_replay(deliveries=EventDelivery.objects.all(), actor=make_user(Role.PUBLISHER))
    webhook_receiver.respond(200)
    assert event_deliveries_replay(deliveries=EventDelivery.objects.all(), actor=make_user(Role.ADMIN)) == 1
    event_deliveries_send(endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert delivery.state == State.DELIVERED
    ids = {r["headers"]["webhook-id"] for r in webhook_receiver.messages()}
    assert ids == {event.public_id}  # the replay carries the same webhook-id


def test_nothing_is_stored_for_a_type_no_endpoint_wants(webhook_receiver):
    _endpoint(webhook_receiver, types=[EventType.SEND_COMPLETED])
    assert subscriber_event_emit(type=EventType.SUBSCRIBER_CREATED, subscriber=SubscriberFactory()) is None
    assert not OutboundEvent.objects.exists()


def test_an_event_emitted_in_a_rolled_back_transaction_does_not_exist(webhook_receiver):
    _endpoint(webhook_receiver)
    reader = SubscriberFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        subscriber_event_emit(type=EventType.SUBSCRIBER_CREATED, subscriber=reader)
        raise RuntimeError("the change failed")
    assert not OutboundEvent.objects.exists()
    assert not EventDelivery.objects.exists()


def test_a_dedupe_key_emits_once(webhook_receiver):
    _endpoint(webhook_receiver)
    first = event_emit(type=EventType.SEND_COMPLETED, data={}, dedupe_key="send.completed:1")
    again = event_emit(type=EventType.SEND_COMPLETED, data={}, dedupe_key="send.completed:1")
    assert first is not None and again is None
    assert OutboundEvent.objects.count() == 1
