from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Delivery, Send
from channels_app.services.sweeper import deliveries_sweep
from tests.factories import DeliveryFactory, SendFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(outbox_channel):
    return SendFactory(status=Send.Status.SENDING, audience_ready=True)


def _delivery(send, channel, **fields):
    delivery = DeliveryFactory(send=send, channel=channel)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return delivery


def test_an_expired_lease_is_reclaimed_and_the_delivery_sent(send, outbox_channel, django_capture_on_commit_callbacks):
    past = timezone.now() - timedelta(minutes=1)
    delivery = _delivery(send, outbox_channel, state="sending", attempts=1, lease_expires_at=past)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = deliveries_sweep()
    assert outcome.reclaimed == 1 and outcome.enqueued == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert delivery.attempts == 2


def test_a_live_lease_is_left_alone(send, outbox_channel):
    future = timezone.now() + timedelta(minutes=5)
    delivery = _delivery(send, outbox_channel, state="sending", lease_expires_at=future)
    assert deliveries_sweep().reclaimed == 0
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENDING


def test_a_due_retry_is_enqueued_once_per_due_time(send, outbox_channel, django_capture_on_commit_callbacks):
    now = timezone.now()
    _delivery(send, outbox_channel, next_attempt_at=now - timedelta(seconds=1), updated_at=now - timedelta(minutes=1))
    _delivery(send, outbox_channel, next_attempt_at=now + timedelta(minutes=5), updated_at=now)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = deliveries_sweep()
        second = deliveries_sweep()
    assert (first.enqueued, second.enqueued) == (1, 0)
    assert len(callbacks) == 1


def test_queued_work_whose_message_was_lost_is_enqueued_again(
    send, outbox_channel, settings, django_capture_on_commit_callbacks
):
    old = timezone.now() - timedelta(seconds=settings.DELIVERY_REDISPATCH_AFTER_SECONDS + 5)
    delivery = _delivery(send, outbox_channel, updated_at=old)
    _delivery(send, outbox_channel)  # fresh: its message is probably still in the broker
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep().enqueued == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_deliveries_of_paused_sends_are_not_enqueued(outbox_channel):
    send = SendFactory(status=Send.Status.PAUSED)
    _delivery(send, outbox_channel, next_attempt_at=timezone.now(), updated_at=timezone.now() - timedelta(hours=1))
    assert deliveries_sweep().enqueued == 0
