import time

import pytest

from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success, circuit_reset
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(settings):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_COOLDOWN_SECONDS = 0.3
    return ChannelFactory()


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


def test_after_the_cooldown_exactly_one_probe_goes_and_success_closes(channel):
    for _ in range(3):
        circuit_record_failure(channel, reason="down")
    time.sleep(0.35)
    probe = circuit_check(channel)
    assert probe.allowed and probe.probe
    assert not circuit_check(channel).allowed, "a second worker does not probe at the same time"
    channel.refresh_from_db()
    assert channel.circuit_state == "half_open"
    circuit_record_success(channel)
    assert circuit_check(channel).allowed
    channel.refresh_from_db()
    assert channel.circuit_state == "closed"


def test_a_failed_probe_reopens_with_a_longer_cooldown(channel):
    for _ in range(3):
        circuit_record_failure(channel, reason="down")
    first_retry = circuit_check(channel).retry_at
    time.sleep(0.35)
    assert circuit_check(channel).probe
    assert circuit_record_failure(channel, reason="still down")
    second = circuit_check(channel)
    assert not second.allowed
    assert second.retry_at - time.time() > 0.4, "cooldown doubled"
    assert second.retry_at > first_retry


def test_reset_closes_by_hand(channel):
    circuit_record_failure(channel, reason="down", paused=True)
    circuit_reset(channel)
    assert circuit_check(channel).allowed
