"""The circuit breaker, on the real shared store (Redis under REDIS_URL), with time moved by the
test's clock instead of sleeps."""

import threading

import pytest

from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success, circuit_reset
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_COOLDOWN_SECONDS = 30
    settings.CIRCUIT_MAX_COOLDOWN_SECONDS = 600
    settings.CIRCUIT_PROBE_TIMEOUT_SECONDS = 60
    return ChannelFactory()


def _open(channel, reason="down"):
    for _ in range(3):
        circuit_record_failure(channel, reason=reason)


def test_the_circuit_opens_after_consecutive_failures_and_says_why(channel):
    assert not circuit_record_failure(channel, reason="503")
    assert not circuit_record_failure(channel, reason="503")
    assert circuit_record_failure(channel, reason="503 Service Unavailable")
    decision = circuit_check(channel)
    assert not decision.allowed and decision.reason == "503 Service Unavailable"
    channel.refresh_from_db()
    assert (channel.circuit_state, channel.circuit_reason) == ("open", "503 Service Unavailable")


def test_a_success_resets_the_count(channel):
    circuit_record_failure(channel, reason="x")
    circuit_record_failure(channel, reason="x")
    circuit_record_success(channel)
    assert not circuit_record_failure(channel, reason="x")


def test_a_paused_account_opens_the_circuit_at_once(channel):
    assert circuit_record_failure(channel, reason="SES ACCOUNT_DAILY_QUOTA_EXCEEDED", paused=True)
    assert not circuit_check(channel).allowed


def test_the_circuit_stays_open_until_the_cooldown_ends(channel, clock):
    _open(channel)
    clock.advance(29)
    assert not circuit_check(channel).allowed
    clock.advance(2)
    assert circuit_check(channel).allowed


def test_after_the_cooldown_exactly_one_probe_goes_and_its_success_closes(channel, clock):
    _open(channel)
    clock.advance(31)
    probe = circuit_check(channel)
    assert probe.allowed and probe.probe
    assert not circuit_check(channel).allowed, "a second worker does not probe at the same time"
    channel.refresh_from_db()
    assert channel.circuit_state == "half_open"
    circuit_record_success(channel, probe=True)
    assert circuit_check(channel).allowed
    channel.refresh_from_db()
    assert channel.circuit_state == "closed"


def test_a_success_of_a_call_already_in_flight_does_not_close_a_just_opened_circuit(channel, clock):
    _open(channel)
    clock.advance(0.07)
    circuit_record_success(channel)  # a chunk sent before the circuit opened came back fine
    assert not circuit_check(channel).allowed
    channel.refresh_from_db()
    assert channel.circuit_state == "open"


def test_a_probe_that_never_reports_frees_the_probe_slot_after_its_timeout(channel, clock):
    _open(channel)
    clock.advance(31)
    assert circuit_check(channel).probe
    clock.advance(30)
    waiting = circuit_check(channel)
    assert not waiting.allowed
    assert waiting.retry_at - clock.time() <= 2, "others look again soon, not after the probe's timeout"
    clock.advance(31)
    assert circuit_check(channel).probe, "the probing worker died: another one probes"


def test_a_failed_probe_reopens_with_a_doubled_cooldown(channel, clock):
    _open(channel)
    first_retry = circuit_check(channel).retry_at
    clock.advance(31)
    assert circuit_check(channel).probe
    assert circuit_record_failure(channel, reason="still down", probe=True)
    second = circuit_check(channel)
    assert not second.allowed
    assert second.retry_at - clock.time() == pytest.approx(60, abs=1), "cooldown doubled"
    assert second.retry_at > first_retry


def test_late_failures_of_calls_in_flight_do_not_extend_an_open_circuit(channel, clock):
    _open(channel)
    retry_at = circuit_check(channel).retry_at
    clock.advance(10)
    assert circuit_record_failure(channel, reason="late")
    assert circuit_check(channel).retry_at == pytest.approx(retry_at)


def test_reset_closes_by_hand(channel):
    circuit_record_failure(channel, reason="down", paused=True)
    circuit_reset(channel)
    assert circuit_check(channel).allowed


def test_failures_and_resets_racing_from_many_threads_never_raise(channel, settings):
    """The storm runs' crash: a reset between a failure's two cache steps made `incr` raise."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 10_000
    errors = []

    def hammer(action):
        try:
            for _ in range(200):
                action()
        except Exception as exc:  # recorded, asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=hammer, args=(lambda: circuit_record_failure(channel, reason="x"),)),
        threading.Thread(target=hammer, args=(lambda: circuit_record_failure(channel, reason="x"),)),
        threading.Thread(target=hammer, args=(lambda: circuit_reset(channel),)),
        threading.Thread(target=hammer, args=(lambda: circuit_record_success(channel),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    circuit_reset(channel)
    assert not circuit_record_failure(channel, reason="x")


def test_a_throttled_provider_pauses_the_channel_briefly_not_for_the_outage_cooldown(channel, clock, settings):
    settings.CIRCUIT_THROTTLED_COOLDOWN_SECONDS = 5
    for _ in range(3):
        circuit_record_failure(channel, reason="SES TooManyRequestsException", throttled=True)
    assert not circuit_check(channel).allowed
    clock.advance(6)
    assert circuit_check(channel).probe
