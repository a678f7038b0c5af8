"""Every path of a batch that does not end in a recorded provider outcome puts its deliveries
back to `queued` with their due time at once; an accepted chunk is recorded whatever fails
beside it. One test per path, with the real SES emulator, PostgreSQL and Redis (a Redis of the
test's own where Redis fails)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from channels_app.models import Channel, Delivery, Send
from channels_app.services.pipeline import delivery_batch_send
from channels_app.services.sends import send_create
from channels_app.services.sweeper import deliveries_sweep
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.factories import ChannelFactory
from tests.faults import RedisServer, pg_terminate_sessions
from tests.worker import require_real_services, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ses_channel(ses_emulator):
    return ChannelFactory(
        name="SES",
        kind="email",
        is_default=True,
        rate_limit_per_second=1000,
        config={
            "esp": "amazon_ses",
            "from_email": "news@example.com",
            "endpoint_url": ses_emulator.endpoint_url,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "x", "aws_secret_access_key": "x"},
    )


@pytest.fixture
def deliveries(make_readers, topic, ses_channel):
    """`deliveries(n)`: ids of n queued deliveries of a sending send on the SES channel."""

    def _make(n: int) -> list[int]:
        readers = make_readers(n)
        send, _ = send_create(key="guarantees", kind=Send.Kind.NEWSLETTER, subject="Hi", content=EMAIL_CONTENT)
        Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING, audience_ready=True)
        rows = Delivery.objects.bulk_create(
            Delivery(send=send, channel=ses_channel, subscriber=r, recipient_key=r.pk, recipient=r.email)
            for r in readers
        )
        return [row.pk for row in rows]

    return _make


def _states(ids) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in Delivery.objects.filter(pk__in=ids).values_list("state", flat=True):
        counts[state] = counts.get(state, 0) + 1
    return counts


def _in_background(target):
    """Run `target` in a thread with its own database connection; returns (thread, result box)."""
    box: dict = {}

    def run():
        try:
            box["result"] = target()
        except BaseException as exc:  # reported by the test
            box["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, box


def test_a_full_rate_limit_puts_the_rest_back_due_later_without_spending_an_attempt(
    deliveries, ses_channel, ses_emulator, settings
):
    settings.RATE_LIMIT_MAX_WAIT_SECONDS = 0.2
    Channel.objects.filter(pk=ses_channel.pk).update(rate_limit_per_second=50)
    ids = deliveries(200)
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.sent == ses_emulator.stats()["recipients_accepted"] >= 50
    assert outcome.deferred == 200 - outcome.sent
    assert _states(ids) == {"sent": outcome.sent, "queued": outcome.deferred}
    waiting = Delivery.objects.filter(pk__in=ids, state="queued")
    assert not waiting.filter(next_attempt_at__isnull=True).exists(), "each has its due time"
    assert set(waiting.values_list("attempts", flat=True)) == {0}, "a deferral costs no attempt"


def test_an_open_circuit_puts_the_whole_batch_back_due_when_it_may_close(deliveries, ses_channel, settings):
    from channels_app.circuit import circuit_record_failure

    circuit_record_failure(ses_channel, reason="SES down", paused=True)
    ids = deliveries(20)
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.deferred == 20 and _states(ids) == {"queued": 20}
    due = set(Delivery.objects.filter(pk__in=ids).values_list("next_attempt_at", flat=True))
    assert len(due) == 1 and due.pop() is not None


def test_a_429_storm_records_each_chunk_as_a_retry_and_leaves_nothing_sending(deliveries, ses_channel, ses_emulator):
    ses_emulator.configure(storm={"status": 429, "code": "TooManyRequestsException"})
    ids = deliveries(200)
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.sent == 0
    assert _states(ids) == {"queued": 200}
    assert outcome.retrying + outcome.deferred == 200


def test_an_accepted_chunk_is_recorded_when_redis_dies_while_it_is_in_flight(
    deliveries, ses_channel, ses_emulator, settings
):
    require_real_services()
    ids = deliveries(100)
    with RedisServer() as redis:
        settings.REDIS_URL = redis.url()  # circuit state and rate limits live here
        ses_emulator.configure(latency_ms=1500)
        thread, box = _in_background(lambda: delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids))
        wait_for(lambda: sum(ses_emulator.stats()["requests"].values()) >= 2, timeout=10, what="calls in flight")
        redis.stop()
        thread.join(timeout=60)
    assert "error" not in box, box
    accepted = ses_emulator.stats()["recipients_accepted"]
    assert accepted == 100, "both chunks were in flight"
    assert _states(ids) == {"sent": 100}, "the circuit's Redis failing after acceptance costs no outcome"


def test_a_bug_mid_batch_spends_the_attempt_and_says_why_instead_of_stranding_the_claim(deliveries, ses_channel):
    ids = deliveries(10)
    Send.objects.filter(deliveries__pk=ids[0]).update(content={"email": "not a template"})  # a broken send
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.claimed == 10
    assert _states(ids) == {"queued": 10}
    rows = Delivery.objects.filter(pk__in=ids)
    assert set(rows.values_list("attempts", flat=True)) == {1}
    assert all(error.startswith("not sent: AttributeError") for error in rows.values_list("last_error", flat=True))


def test_an_accepted_chunk_is_recorded_when_the_database_connection_is_cut_while_it_is_in_flight(
    deliveries, ses_channel, ses_emulator
):
    require_real_services()
    ids = deliveries(50)
    ses_emulator.configure(latency_ms=1500)
    db = connection.settings_dict
    dsn = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"

    def cut_once_the_call_is_in_flight():
        wait_for(lambda: sum(ses_emulator.stats()["requests"].values()) >= 1, timeout=10, what="the call")
        return pg_terminate_sessions(dsn, database=db["NAME"])

    cutter, cut = _in_background(cut_once_the_call_is_in_flight)
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    cutter.join(timeout=30)
    assert cut.get("result", 0) >= 1, "the batch's connection was terminated"
    assert outcome.sent == 50
    assert _states(ids) == {"sent": 50}


def test_a_slow_live_batch_renews_its_lease_and_is_never_taken_back(deliveries, ses_channel, ses_emulator, settings):
    settings.DELIVERY_LEASE_SECONDS = 2
    settings.DELIVERY_LEASE_RENEW_SECONDS = 0.5
    ids = deliveries(10)
    ses_emulator.configure(latency_ms=4000)  # one call outlasts the lease twice over
    thread, box = _in_background(lambda: delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids))
    reclaimed = 0
    while thread.is_alive():
        reclaimed += deliveries_sweep().reclaimed
        time.sleep(0.25)
    thread.join()
    assert "error" not in box, box
    assert reclaimed == 0
    assert _states(ids) == {"sent": 10}
    assert ses_emulator.stats()["recipients_accepted"] == 10


def test_an_accepted_batch_costs_one_statement_to_claim_and_load_and_one_per_chunk(
    deliveries, ses_channel, ses_emulator
):
    """Issue 19: the claim returns what rendering needs, each accepted chunk is one set-based
    UPDATE (no transaction around it), and completion reads the kept counts."""
    from django.test.utils import CaptureQueriesContext

    ids = deliveries(120)  # three chunks of SES's 50
    with CaptureQueriesContext(connection) as queries:
        outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.sent == 120 == ses_emulator.stats()["recipients_accepted"]
    statements = [q["sql"] for q in queries.captured_queries]
    assert sum(s.startswith("WITH claimed AS (UPDATE") for s in statements) == 1
    assert sum("unnest(" in s for s in statements) == 3
    assert not any(s.startswith(("BEGIN", "SAVEPOINT")) for s in statements)
    assert not any("channels_app_delivery" in s and s.startswith("SELECT") for s in statements), "no reload"
    assert len(statements) <= 8, statements
    sent = Delivery.objects.filter(pk__in=ids)
    assert set(sent.values_list("state", flat=True)) == {"sent"}
    assert not sent.filter(provider_message_id="").exists(), "each row keeps its provider's message id"
    assert Send.objects.get(deliveries__pk=ids[0]).status == Send.Status.COMPLETED


def _reservations_and_circuit_reads(redis) -> tuple[int, int]:
    import redis as redis_py

    stats = redis_py.Redis(port=redis.port).info("commandstats")
    # An EVALSHA the new server does not know yet fails (NOSCRIPT) and is retried as EVAL.
    calls = {name.removeprefix("cmdstat_"): v["calls"] - v.get("failed_calls", 0) for name, v in stats.items()}
    return calls.get("evalsha", 0) + calls.get("eval", 0), calls.get("hgetall", 0)


@pytest.mark.parametrize(
    ("rate", "emails", "reservations", "at_least_seconds"),
    [
        (1000, 500, 1, 0.0),  # a fast channel: the whole batch in one reservation
        (100, 300, 3, 1.9),  # 100/s: a second's worth per reservation, so the rate still holds
    ],
)
def test_a_batch_reserves_the_shared_rate_per_second_of_sending_not_per_chunk(
    deliveries, ses_channel, ses_emulator, settings, rate, emails, reservations, at_least_seconds
):
    """Issue 19 step 3: Redis round trips for the rate limit and the circuit per batch, with
    the same limit honoured (the burst is one second's worth, as before)."""
    require_real_services()
    Channel.objects.filter(pk=ses_channel.pk).update(rate_limit_per_second=rate)
    ids = deliveries(emails)
    with RedisServer() as redis:
        settings.REDIS_URL = redis.url()
        started = time.monotonic()
        outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
        elapsed = time.monotonic() - started
        reserved, circuit_reads = _reservations_and_circuit_reads(redis)
    assert outcome.sent == emails == ses_emulator.stats()["recipients_accepted"]
    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": emails // 50}
    assert reserved == reservations
    assert circuit_reads <= 3, "one check, one success per second of sending"
    assert elapsed >= at_least_seconds


def test_a_provider_timeout_puts_the_chunk_back_as_a_retry_and_strands_nothing(deliveries, ses_channel, ses_emulator):
    """A call that outlives the channel's timeout is a transient failure recorded at once: due
    again with backoff, the attempt spent, nothing left `sending` for a lease to rescue."""
    Channel.objects.filter(pk=ses_channel.pk).update(config={**ses_channel.config, "timeout_seconds": 0.3})
    ids = deliveries(60)  # two chunks (50 and 10), in flight together: either may hang
    ses_emulator.configure(fail_next={"count": 1, "hang_seconds": 2})
    outcome = delivery_batch_send(channel_id=ses_channel.pk, delivery_ids=ids)
    assert outcome.retrying in (10, 50) and outcome.sent == 60 - outcome.retrying, outcome
    rows = Delivery.objects.filter(pk__in=ids, state="queued")
    assert _states(ids) == {"sent": outcome.sent, "queued": outcome.retrying}
    assert not rows.filter(next_attempt_at__isnull=True).exists()
    assert set(rows.values_list("attempts", flat=True)) == {1}
    assert all("timed out" in error for error in rows.values_list("last_error", flat=True))
