"""Per-channel circuit breaker: stop hammering a provider that is down, probe, resume. (Outbound
event endpoints, channels_app.event_models.WebhookEndpoint, have one each too, under their own key.)

closed     sending; consecutive whole-call failures are counted, a success clears the count
open       after CIRCUIT_FAILURE_THRESHOLD failures in a row (or at once when the provider says
           the account is paused or over quota): nothing is sent until the cooldown ends;
           work waits in the database (next_attempt_at) or goes to the fallback channel
half-open  after the cooldown one worker sends a single probe chunk: its success closes the
           circuit, its failure reopens it with a doubled cooldown (up to CIRCUIT_MAX_COOLDOWN)

Only the probe closes an open circuit: a call that was already in flight when the circuit
opened may still come back fine, and that says nothing about the provider now.

Each channel's state is one record changed by one atomic read-modify-write (`_update`): a
Redis hash under WATCH/MULTI with REDIS_URL (shared by every worker), the Django cache under
a process lock otherwise (the embedded default). No step can interleave with another
worker's, so a reset between two steps of a failure can no longer break it. Transitions are
mirrored on the Channel row so admin shows them with the reason. Times come from core.clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from channels_app.models import Channel, CircuitState
from core.clock import clock

logger = logging.getLogger(__name__)

State = dict[str, Any]  # failures, open_until, cooldown, reason, probe_until (absent = closed, no failures)
_TTL_SECONDS = 2 * 24 * 3600
# While one worker probes, the others look again this soon (a probe takes one provider call,
# CIRCUIT_PROBE_TIMEOUT_SECONDS only bounds a probe whose worker died).
PROBE_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class CircuitDecision:
    allowed: bool
    probe: bool = False
    retry_at: float = 0.0  # epoch seconds, when not allowed
    reason: str = ""


def _key(target) -> str:
    """A channel's record, or (outbound event endpoints) another model's, named by its label."""
    if isinstance(target, Channel):
        return f"bulletin:circuit:{target.pk}"
    return f"bulletin:circuit:{target._meta.label_lower}:{target.pk}"


def circuit_check(channel: Channel) -> CircuitDecision:
    now = clock.time()

    def decide(state: State) -> tuple[State, CircuitDecision]:
        open_until = state.get("open_until")
        reason = state.get("reason", "")
        if open_until is None:
            return state, CircuitDecision(allowed=True)
        if now < open_until:
            return state, CircuitDecision(allowed=False, retry_at=open_until, reason=reason)
        probe_until = state.get("probe_until")
        if probe_until is not None and now < probe_until:  # another worker is probing: ask again soon
            return state, CircuitDecision(
                allowed=False, retry_at=min(probe_until, now + PROBE_WAIT_SECONDS), reason=reason
            )
        probing = {**state, "probe_until": now + settings.CIRCUIT_PROBE_TIMEOUT_SECONDS}
        return probing, CircuitDecision(allowed=True, probe=True, reason=reason)

    if "open_until" not in _read(channel):  # the common case: one read, no write
        return CircuitDecision(allowed=True)
    decision = _update(channel, decide)
    if decision.probe:
        _mirror(channel, CircuitState.HALF_OPEN, decision.reason)
    return decision


def circuit_allows(channel: Channel) -> bool:
    """Whether circuit_check would let a call through now, without taking the probe (a read)."""
    state, now = _read(channel), clock.time()
    if state.get("open_until") is None:
        return True
    return now >= state["open_until"] and not (state.get("probe_until") is not None and now < state["probe_until"])


def circuit_record_success(channel: Channel, *, probe: bool = False) -> None:
    """A call succeeded. Clears the failure count; closes an open circuit only for the probe."""

    def succeed(state: State) -> tuple[State, bool]:
        if probe or "open_until" not in state:
            return {}, "open_until" in state
        return state, False

    state = _read(channel)
    if not state or (not probe and "open_until" in state):
        return  # nothing to clear (the common case costs one read), or open: only a probe closes
    if _update(channel, succeed):
        _mirror(channel, CircuitState.CLOSED, "")
        logger.info("circuit closed for channel %s", channel.pk)


def circuit_record_failure(
    channel: Channel, *, reason: str, paused: bool = False, throttled: bool = False, probe: bool = False
) -> bool:
    """Count a whole-call failure; returns True when the circuit is (now) open. A throttled
    provider ("slow down") opens it for a short pause, a paused account for a long one."""
    now = clock.time()

    def fail(state: State) -> tuple[State, tuple[bool, bool, float]]:
        failures = int(state.get("failures", 0)) + 1
        state = {**state, "failures": failures}
        already_open = state.get("open_until") is not None and not probe
        if already_open:  # late failures of calls in flight neither extend nor reopen it
            return state, (True, False, 0.0)
        if not (paused or probe or failures >= settings.CIRCUIT_FAILURE_THRESHOLD):
            return state, (False, False, 0.0)
        previous = state.get("cooldown")
        if paused:
            base = settings.CIRCUIT_PAUSED_COOLDOWN_SECONDS
        elif throttled:
            base = settings.CIRCUIT_THROTTLED_COOLDOWN_SECONDS
        else:
            base = settings.CIRCUIT_COOLDOWN_SECONDS
        cooldown = min(settings.CIRCUIT_MAX_COOLDOWN_SECONDS, previous * 2 if previous and probe else base)
        opened = {"failures": failures, "open_until": now + cooldown, "cooldown": cooldown, "reason": reason[:500]}
        return opened, (True, True, cooldown)

    is_open, just_opened, cooldown = _update(channel, fail)
    if just_opened:
        _mirror(channel, CircuitState.OPEN, reason)
        logger.warning("circuit open for channel %s for %ss: %s", channel.pk, cooldown, reason[:200])
    return is_open


def circuit_reset(channel: Channel) -> None:
    """Close the circuit by hand (admin action after fixing the provider side)."""
    _update(channel, lambda state: ({}, None))
    _mirror(channel, CircuitState.CLOSED, "")


# --- the state record ------------------------------------------------------------------------

_FLOATS = ("open_until", "cooldown", "probe_until")
_local_lock = threading.Lock()


def _read(target) -> State:
    if settings.REDIS_URL:
        from core.redis import get_redis

        return _decode(get_redis().hgetall(_key(target)))
    return dict(cache.get(_key(target)) or {})


def _update(target, change: Callable[[State], tuple[State, Any]]) -> Any:
    """Apply `change` (pure: it may run more than once under contention) atomically."""
    key = _key(target)
    if not settings.REDIS_URL:
        with _local_lock:
            state, result = change(dict(cache.get(key) or {}))
            if state:
                cache.set(key, state, timeout=_TTL_SECONDS)
            else:
                cache.delete(key)
            return result
    from core.redis import get_redis

    def transaction(pipe) -> Any:
        before = _decode(pipe.hgetall(key))
        after, result = change(before)
        pipe.multi()
        if after != before:
            pipe.delete(key)
            if after:
                pipe.hset(key, mapping={k: str(v) for k, v in after.items()})
                pipe.expire(key, _TTL_SECONDS)
        return result

    return get_redis().transaction(transaction, key, value_from_callable=True)


def _decode(raw: dict) -> State:
    state: State = {}
    for name, value in raw.items():
        name = name.decode() if isinstance(name, bytes) else name
        value = value.decode() if isinstance(value, bytes) else value
        state[name] = float(value) if name in _FLOATS else int(value) if name == "failures" else value
    return state


def _mirror(channel: Channel, state: str, reason: str) -> None:
    if channel.circuit_state == state and channel.circuit_reason == reason[:2000]:
        return
    fields = {"circuit_state": state, "circuit_reason": reason[:2000]}
    if state == CircuitState.OPEN:
        fields["circuit_opened_at"] = clock.now()
    type(channel)._default_manager.filter(pk=channel.pk).update(**fields)
    for name, value in fields.items():
        setattr(channel, name, value)
