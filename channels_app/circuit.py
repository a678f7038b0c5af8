"""Per-channel circuit breaker: stop hammering a provider that is down, probe, resume.

closed     sending; consecutive whole-call failures are counted
open       after CIRCUIT_FAILURE_THRESHOLD failures in a row (or at once when the provider says
           the account is paused or over quota): nothing is sent until the cooldown ends;
           work waits in the database (next_attempt_at) or goes to the fallback channel
half-open  after the cooldown one worker sends a single probe chunk: success closes the
           circuit, failure reopens it with a doubled cooldown (up to CIRCUIT_MAX_COOLDOWN)

Counters live in the shared cache (Redis in production) so every worker sees the same
state; transitions are mirrored on the Channel row so admin shows them with the reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from channels_app.models import Channel, CircuitState

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CircuitDecision:
    allowed: bool
    probe: bool = False
    retry_at: float = 0.0  # epoch seconds, when not allowed
    reason: str = ""


def _key(channel_id: int, part: str) -> str:
    return f"bulletin:circuit:{channel_id}:{part}"


def circuit_check(channel: Channel) -> CircuitDecision:
    open_until = cache.get(_key(channel.pk, "open_until"))
    if open_until is None:
        return CircuitDecision(allowed=True)
    now = time.time()
    reason = cache.get(_key(channel.pk, "reason"), "")
    if now < open_until:
        return CircuitDecision(allowed=False, retry_at=open_until, reason=reason)
    # Cooldown over: exactly one worker gets to probe.
    if cache.add(_key(channel.pk, "probe"), 1, timeout=settings.CIRCUIT_PROBE_TIMEOUT_SECONDS):
        _mirror(channel, CircuitState.HALF_OPEN, reason)
        return CircuitDecision(allowed=True, probe=True, reason=reason)
    return CircuitDecision(allowed=False, retry_at=now + settings.CIRCUIT_PROBE_TIMEOUT_SECONDS, reason=reason)


def circuit_record_success(channel: Channel) -> None:
    if cache.get(_key(channel.pk, "failures")) is None and cache.get(_key(channel.pk, "open_until")) is None:
        return  # the common case costs two cache reads and nothing else
    circuit_reset(channel)
    logger.info("circuit closed for channel %s", channel.pk)


def circuit_record_failure(channel: Channel, *, reason: str, paused: bool = False) -> bool:
    """Count a whole-call failure; returns True when the circuit is (now) open."""
    failures_key = _key(channel.pk, "failures")
    cache.add(failures_key, 0, timeout=3600)
    failures = cache.incr(failures_key)
    probing = cache.get(_key(channel.pk, "probe")) is not None
    if not (paused or probing or failures >= settings.CIRCUIT_FAILURE_THRESHOLD):
        return False
    open_until = cache.get(_key(channel.pk, "open_until"))
    if open_until is not None and open_until > time.time() and not probing:
        return True  # already open: late failures of calls in flight do not extend it
    previous = cache.get(_key(channel.pk, "cooldown"))
    base = settings.CIRCUIT_PAUSED_COOLDOWN_SECONDS if paused else settings.CIRCUIT_COOLDOWN_SECONDS
    cooldown = min(settings.CIRCUIT_MAX_COOLDOWN_SECONDS, previous * 2 if previous else base)
    cache.set_many(
        {
            _key(channel.pk, "open_until"): time.time() + cooldown,
            _key(channel.pk, "cooldown"): cooldown,
            _key(channel.pk, "reason"): reason[:500],
        },
        timeout=cooldown + 24 * 3600,
    )
    cache.delete(_key(channel.pk, "probe"))
    _mirror(channel, CircuitState.OPEN, reason)
    logger.warning("circuit open for channel %s for %ss: %s", channel.pk, cooldown, reason[:200])
    return True


def circuit_reset(channel: Channel) -> None:
    """Close the circuit by hand (admin action after fixing the provider side)."""
    cache.delete_many([_key(channel.pk, part) for part in ("failures", "open_until", "cooldown", "reason", "probe")])
    _mirror(channel, CircuitState.CLOSED, "")


def _mirror(channel: Channel, state: str, reason: str) -> None:
    if channel.circuit_state == state and channel.circuit_reason == reason[:2000]:
        return
    fields = {"circuit_state": state, "circuit_reason": reason[:2000]}
    if state == CircuitState.OPEN:
        fields["circuit_opened_at"] = timezone.now()
    Channel.objects.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)
