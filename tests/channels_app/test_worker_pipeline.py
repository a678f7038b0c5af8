"""The pipeline with real parts: Celery worker processes, the Redis broker, PostgreSQL and the
SES emulator counting what it accepted."""

from __future__ import annotations

import time

import pytest

from channels_app.models import Channel, Delivery, Send
from channels_app.services.sweeper import deliveries_sweep
from publishing.services.fanout import send_start
from tests.emulators.sesv2 import SESv2Emulator
from tests.factories import ChannelFactory, TopicFactory
from tests.worker import celery_worker, require_real_services, wait_for
from tests.worker import real_broker as worker_real_broker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CONTENT = {
    "email": {
        "subject": "Hi {{{name}}}",
        "html": "<p>{{{name_html}}} <a href='{{{link_0}}}'>x</a></p>",
        "text": "{{{name}}} {{{link_0}}} {{{unsubscribe_url}}}",
    },
    "links": ["https://example.com/a"],
}


@pytest.fixture
def real_broker(redis_client):
    require_real_services()
    with worker_real_broker():
        yield


def _audience(n: int) -> int:
    from bench import datagen

    topic = TopicFactory(slug="news")
    datagen.subscribers(n, topic_id=topic.pk)
    return topic.pk


def _ses_channel(ses: SESv2Emulator, **fields) -> Channel:
    return ChannelFactory(
        name=fields.pop("name", "SES"),
        is_default=fields.pop("is_default", True),
        config={
            "esp": "amazon_ses",
            "from_email": "news@example.com",
            "endpoint_url": ses.endpoint_url,
            "region": "us-east-1",
            **fields.pop("config", {}),
        },
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "x"},
        **fields,
    )


def _start(topic_id: int, key: str = "worker-send") -> Send:
    from channels_app.services.sends import send_create

    send, _ = send_create(
        key=key,
        kind=Send.Kind.NEWSLETTER,
        subject="Hi",
        content=CONTENT,
        audience={"topic_ids": [topic_id], "frequencies": ["instant"], "channel_kinds": ["email"]},
    )
    send_start(send=send)
    return send


def _completed(send: Send) -> bool:
    send.refresh_from_db()
    return send.status == Send.Status.COMPLETED


def test_a_10000_recipient_send_reaches_everyone_exactly_once(real_broker):
    topic_id = _audience(10_000)
    with SESv2Emulator(store_messages=False) as ses:
        _ses_channel(ses, rate_limit_per_second=5000)
        with celery_worker():
            send = _start(topic_id)
            wait_for(lambda: _completed(send), timeout=240, what="the send to complete")
        stats = ses.stats()
    assert stats["recipients_accepted"] == 10_000
    assert stats["unique_recipients"] == 10_000
    assert not stats["duplicates"]
    assert Delivery.objects.filter(send=send, state=Delivery.State.SENT).count() == 10_000
    # Batches of 500 in one message each, plus the fan-out task: far fewer than one per 50 emails.
    assert stats["requests"]["SendBulkEmail"] == 200


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_at_most_its_in_flight_calls(real_broker):
    """Guarantee: recorded outcomes are final; the claimed-but-unrecorded deliveries of the
    killed worker come back when their lease expires; only provider calls in flight at the
    kill (≤ parallelism × chunk = 8 × 50 per pool process) can be accepted twice."""
    topic_id = _audience(3_000)
    env = {"DELIVERY_BATCH_SIZE": "300", "DELIVERY_LEASE_SECONDS": "3", "CELERY_VISIBILITY_TIMEOUT": "5"}
    with SESv2Emulator(store_messages=False, latency_ms=150) as ses:
        _ses_channel(ses, rate_limit_per_second=5000)
        with celery_worker(name="doomed", **env) as doomed:
            send = _start(topic_id)
            wait_for(lambda: ses.stats()["recipients_accepted"] >= 600, timeout=120, what="sending to start")
            doomed.kill()
        in_flight = Delivery.objects.filter(send=send, state=Delivery.State.SENDING).count()
        with celery_worker(name="rescuer", **env):

            def done():
                deliveries_sweep()  # what beat runs every 15 s
                return _completed(send)

            wait_for(done, timeout=180, what="the rescued send to complete")
        stats = ses.stats()
    assert Delivery.objects.filter(send=send).exclude(state=Delivery.State.SENT).count() == 0
    assert stats["unique_recipients"] == 3_000, "nothing lost"
    repeated = sum(count - 1 for count in stats["duplicates"].values()) if stats["duplicates"] else 0
    assert repeated <= 2 * 8 * 50, f"{repeated} repeats for {in_flight} deliveries caught in flight"


def test_throttling_and_5xx_are_retried_until_sent(real_broker):
    topic_id = _audience(200)
    with SESv2Emulator(store_messages=False) as ses:
        ses.configure(
            fail_next=[
                {"count": 2, "status": 429, "code": "TooManyRequestsException", "retry_after": 1},
                {"count": 2, "status": 503, "code": "ServiceUnavailable"},
            ]
        )
        _ses_channel(ses, rate_limit_per_second=5000)
        with celery_worker(DELIVERY_RETRY_BASE_SECONDS="0.5", DELIVERY_BATCH_SIZE="100"):
            send = _start(topic_id)
            wait_for(lambda: _completed(send), timeout=120, what="retries to succeed")
        stats = ses.stats()
    assert stats["unique_recipients"] == 200 and not stats["duplicates"]
    assert stats["faults_injected"] >= 4
    retried = Delivery.objects.filter(send=send, attempts__gt=1).count()
    assert retried >= 50, "the failed chunks were retried, only them"


def test_the_rate_limit_holds_across_two_worker_processes(real_broker):
    topic_id = _audience(300)
    with SESv2Emulator(store_messages=True) as ses:
        _ses_channel(ses, rate_limit_per_second=50)
        env = {"DELIVERY_BATCH_SIZE": "50"}
        with celery_worker(name="a", concurrency=1, **env), celery_worker(name="b", concurrency=1, **env):
            send = _start(topic_id)
            wait_for(lambda: _completed(send), timeout=120, what="the rate-limited send")
        stamps = sorted(m["received_at"] for m in ses.messages())
    assert len(stamps) == 300
    rate = (len(stamps) - 50) / (stamps[-1] - stamps[0])  # the first second's burst is allowed
    assert 40 <= rate <= 55, f"provider saw {rate:.1f}/s for a limit of 50/s"


def test_a_provider_that_is_down_opens_the_circuit_then_the_fallback_carries_the_mail(real_broker, settings):
    topic_id = _audience(400)
    env = {
        "CIRCUIT_FAILURE_THRESHOLD": "2",
        "CIRCUIT_COOLDOWN_SECONDS": "60",
        "DELIVERY_BATCH_SIZE": "100",
        "DELIVERY_RETRY_BASE_SECONDS": "0.5",
    }
    with SESv2Emulator(store_messages=False) as down, SESv2Emulator(store_messages=False) as backup:
        down.configure(down=True)
        fallback = _ses_channel(backup, name="Backup SES", is_default=False, rate_limit_per_second=1000)
        primary = _ses_channel(down, name="Primary SES", fallbacks=[fallback.pk], rate_limit_per_second=1000)
        with celery_worker(**env):
            send = _start(topic_id)
            wait_for(lambda: _completed(send), timeout=120, what="the fallback to finish the send")
        primary.refresh_from_db()
        requests_to_down = sum(down.stats()["requests"].values())
        assert primary.circuit_state == "open"
        assert requests_to_down <= 6, f"{requests_to_down} requests to a provider that is down: a storm"
        assert backup.stats()["unique_recipients"] == 400
        assert Delivery.objects.filter(send=send, sent_via=fallback).count() == 400

        # The provider comes back: after the cooldown a probe succeeds and the circuit closes.
        down.configure(down=False)
        from core.redis import get_redis

        # The worker runs on the wall clock: end the 60 s cooldown in the shared circuit state.
        get_redis().hset(f"bulletin:circuit:{primary.pk}", "open_until", str(time.time() - 1))
        backup.reset()
        with celery_worker(**env):
            later = _start(topic_id, key="after-recovery")
            wait_for(lambda: _completed(later), timeout=120, what="sending to resume on the primary")
        primary.refresh_from_db()
        assert primary.circuit_state == "closed"
        # One probe chunk went first; batches that ran meanwhile used the fallback, the rest the primary.
        on_primary, on_backup = down.stats()["unique_recipients"], backup.stats()["unique_recipients"]
        assert on_primary >= 200 and on_primary + on_backup == 400
