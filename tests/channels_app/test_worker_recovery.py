"""Faults mid-send with a real worker, celery-beat, a Redis of the test's own (broker, rate limits,
circuits), PostgreSQL and the SES emulator: the recovery benchmark's scenarios, smaller
(bench/recovery.py runs both). While the worker lives, nothing is lost, nothing is sent twice
and nothing is left in `sending` with nobody working on it; a killed worker's claims come back
within its lease."""

from __future__ import annotations

import pytest

from bench import recovery
from tests.faults import RedisServer
from tests.worker import require_real_services, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECIPIENTS = 1_000
# Lease renewals every second, so "nobody works on it" shows 2 s after a batch stops.
FAST = {
    "DELIVERY_LEASE_RENEW_SECONDS": "1",
    "DELIVERY_BATCH_SIZE": "100",
    "DELIVERY_RETRY_BASE_SECONDS": "1",
    "CIRCUIT_COOLDOWN_SECONDS": "5",
}


@pytest.fixture
def harness(ses_emulator, tmp_path):
    require_real_services()
    ses_emulator.configure(latency_ms=50)
    with RedisServer() as redis:
        harness = recovery.Harness(
            ses_endpoint=ses_emulator.endpoint_url, redis=redis, env=worker_env(**FAST), log_dir=tmp_path, settle=4
        )
        try:
            yield harness
        finally:
            harness.stop()


def _assert_clean(result: recovery.ScenarioResult) -> None:
    details = result.as_dict()
    assert result.lost == 0, details
    assert result.duplicates == 0, details
    assert result.stranded == 0, details


def test_a_429_storm_strands_nothing_and_sends_nobody_twice(harness):
    fault = recovery.storm("storm_429", 3, status=429, code="TooManyRequestsException", every=1)
    _assert_clean(harness.run(fault, recipients=RECIPIENTS, rate=250))


def test_500s_on_half_the_calls_never_resend_an_accepted_chunk(harness):
    fault = recovery.storm("storm_500_half", 3, status=500, every=2)
    _assert_clean(harness.run(fault, recipients=RECIPIENTS, rate=250))


def test_redis_lost_and_back_empty_loses_no_outcome_and_resumes_in_seconds(harness):
    result = harness.run(recovery.redis_down(3), recipients=RECIPIENTS, rate=250)
    _assert_clean(result)
    assert result.notes["recovered_after_fault_seconds"] < 30, result.as_dict()


def test_the_workers_database_connections_cut_mid_send_lose_no_outcome(harness):
    _assert_clean(harness.run(recovery.pg_connections_cut(3), recipients=RECIPIENTS, rate=250))


def test_a_killed_workers_claims_come_back_within_its_lease(harness, settings):
    harness.env.pop("DELIVERY_LEASE_RENEW_SECONDS")  # the defaults: a 30 s lease renewed every 5 s
    result = harness.run(recovery.sigkill(), recipients=RECIPIENTS, rate=250)
    assert result.lost == 0, result.as_dict()
    # Only the provider calls in flight at the kill can be repeated: 2 processes x 8 chunks x 50.
    assert result.duplicates <= 2 * 8 * 50, result.as_dict()
    limit = settings.DELIVERY_LEASE_SECONDS + 5 + 15  # lease + a sweep + sending the rest
    assert result.notes["recovered_after_fault_seconds"] < limit, result.as_dict()
