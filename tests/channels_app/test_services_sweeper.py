"""The sweeper: expired leases, due retries, messages never published or lost by the broker,
sends left without a fan-out. Time is the test's clock."""

from datetime import timedelta

import pytest

from channels_app.models import Delivery, Send
from channels_app.services.sweeper import deliveries_sweep
from tests.factories import DeliveryFactory, SendFactory
from tests.faults import RedisServer

pytestmark = pytest.mark.django_db


@pytest.fixture
def send(outbox_channel):
    return SendFactory(status=Send.Status.SENDING, audience_ready=True)


def _delivery(send, channel, **fields):
    delivery = DeliveryFactory(send=send, channel=channel)
    Delivery.objects.filter(pk=delivery.pk).update(**fields)
    return delivery


def test_an_expired_lease_is_reclaimed_and_the_delivery_sent(
    send, outbox_channel, clock, django_capture_on_commit_callbacks
):
    now = clock.now()
    delivery = _delivery(
        send, outbox_channel, state="sending", attempts=1, lease_expires_at=now - timedelta(seconds=1), enqueued_at=now
    )
    with django_capture_on_commit_callbacks(execute=True):
        outcome = deliveries_sweep()
    assert outcome.reclaimed == 1 and outcome.enqueued == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert delivery.attempts == 2


def test_a_live_lease_is_left_alone_until_it_runs_out(send, outbox_channel, clock, settings):
    now = clock.now()
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    delivery = _delivery(send, outbox_channel, state="sending", lease_expires_at=lease, enqueued_at=now)
    assert deliveries_sweep().reclaimed == 0
    clock.advance(settings.DELIVERY_LEASE_SECONDS + 1)
    assert deliveries_sweep().reclaimed == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.QUEUED


def test_a_due_retry_is_enqueued_once_per_due_time(send, outbox_channel, clock, django_capture_on_commit_callbacks):
    now = clock.now()
    due = _delivery(
        send, outbox_channel, next_attempt_at=now - timedelta(seconds=1), enqueued_at=now - timedelta(minutes=1)
    )
    _delivery(send, outbox_channel, next_attempt_at=now + timedelta(minutes=5), enqueued_at=now)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = deliveries_sweep()
        second = deliveries_sweep()
    assert (first.enqueued, second.enqueued) == (1, 0)
    assert len(callbacks) == 1
    due.refresh_from_db()
    assert due.enqueued_at >= due.next_attempt_at


def test_queued_work_whose_message_is_long_overdue_is_enqueued_again(
    send, outbox_channel, settings, clock, django_capture_on_commit_callbacks
):
    now = clock.now()
    old = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_AFTER_SECONDS + 5)
    delivery = _delivery(send, outbox_channel, enqueued_at=old)
    _delivery(send, outbox_channel, enqueued_at=now)  # fresh: its message is probably still in the broker
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_sweep().enqueued == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT


def test_queued_work_whose_message_was_never_published_is_enqueued(
    send, outbox_channel, clock, django_capture_on_commit_callbacks
):
    _delivery(send, outbox_channel, enqueued_at=None)
    _delivery(send, outbox_channel, enqueued_at=clock.now())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert deliveries_sweep().enqueued == 1
    assert len(callbacks) == 1


def test_work_published_before_the_broker_restarted_empty_is_enqueued_again_at_once(
    send, outbox_channel, clock, settings, django_capture_on_commit_callbacks
):
    with RedisServer() as broker:
        settings.CELERY_BROKER_URL = broker.url()
        broker.wait_uptime(2)  # its start is known to within a second: this row is later
        _delivery(send, outbox_channel, enqueued_at=clock.now())
        assert deliveries_sweep().enqueued == 0, "its message is still in the broker"
        broker.stop()
        broker.start()  # nothing on disk: its messages are gone
        broker.wait_uptime(2)  # past the second of uncertainty about its start
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert deliveries_sweep().enqueued == 1
        assert len(callbacks) == 1
        assert deliveries_sweep().enqueued == 0, "published again once, not on every sweep"


def test_deliveries_of_paused_sends_are_not_enqueued(outbox_channel, clock):
    send = SendFactory(status=Send.Status.PAUSED)
    _delivery(send, outbox_channel, next_attempt_at=clock.now(), enqueued_at=clock.now() - timedelta(hours=1))
    assert deliveries_sweep().enqueued == 0


def test_a_sending_send_whose_deliveries_are_all_settled_is_completed(send, outbox_channel):
    _delivery(send, outbox_channel, state="sent")
    _delivery(send, outbox_channel, state="failed")
    assert deliveries_sweep().completed == 1
    send.refresh_from_db()
    assert send.status == Send.Status.COMPLETED


def test_work_whose_message_a_dead_worker_took_is_enqueued_again_once_the_broker_is_empty(
    send, outbox_channel, clock, settings, django_capture_on_commit_callbacks
):
    """A worker SIGKILLed with a message reserved: Redis holds it unacked for an hour."""
    import redis as redis_py

    settings.DELIVERY_IDLE_REDISPATCH_AFTER_SECONDS = 1
    with RedisServer() as broker:
        settings.CELERY_BROKER_URL = broker.url()
        broker.wait_uptime(2)  # published after the broker started: not lost by a restart
        _delivery(send, outbox_channel, enqueued_at=clock.now())
        broker.wait_uptime(4)  # and more than a second ago
        waiting = redis_py.Redis(port=broker.port)
        waiting.lpush("bulk", "another message still waits")
        assert deliveries_sweep().enqueued == 0, "the workers are busy: its message may be in the queue"
        waiting.delete("bulk")
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert deliveries_sweep().enqueued == 1
        assert len(callbacks) == 1
