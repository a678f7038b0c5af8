"""The hand-off: one batch of deliveries on one channel, from claim to recorded outcome.

    claim (atomic) → circuit check (or fallback channel) → render once per send, per
    recipient → chunks sized for one provider call → shared rate limit → adapter calls
    overlapped in a small thread pool → each chunk's outcome recorded as soon as it returns

Recording per chunk bounds what a killed worker can repeat: only the provider calls in flight
at that moment (at most `parallelism` chunks) can be sent twice after the lease expires;
everything recorded is never sent again (see README: delivery guarantees).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from channels_app import ratelimit
from channels_app.adapters import ADAPTERS, adapter_for
from channels_app.adapters.base import (
    ChannelAdapter,
    ConfigError,
    PermanentProviderError,
    ProviderError,
    ProviderPausedError,
    RenderedMessage,
    SendResult,
)
from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success
from channels_app.models import Channel, Delivery, Send
from channels_app.rendering import prepare
from channels_app.services.deliveries import (
    RecordedOutcome,
    deliveries_claim,
    deliveries_defer,
    deliveries_fail,
    deliveries_record,
    deliveries_rows,
)
from core.crypto import DecryptionError

logger = logging.getLogger(__name__)


@dataclass
class BatchOutcome:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    dead: int = 0
    deferred: int = 0
    retry_due: list[tuple[int, float]] = field(default_factory=list)

    def add(self, recorded: RecordedOutcome) -> None:
        self.sent += recorded.sent
        self.failed += recorded.failed
        self.retrying += recorded.retrying
        self.dead += recorded.dead
        self.retry_due += list(recorded.retry_due)


def delivery_batch_send(*, channel_id: int, delivery_ids: Sequence[int]) -> BatchOutcome:
    outcome = BatchOutcome()
    claimed = deliveries_claim(ids=delivery_ids)
    outcome.claimed = len(claimed)
    if not claimed:
        return outcome
    channel = Channel.objects.select_related("fallback").get(pk=channel_id)
    if not channel.is_active:
        outcome.failed = deliveries_fail(ids=claimed, reason=f"channel disabled: {channel.disabled_reason}")
        return outcome
    problem = channel_config_problem(channel)
    if problem:  # edited into a broken state behind the services' back: stop, say why
        from channels_app.services.channels import channel_disable

        channel_disable(channel=channel, reason=problem)
        outcome.failed = deliveries_fail(ids=claimed, reason=problem)
        return outcome
    carrier, probe = _carrier(channel, claimed, outcome)
    if carrier is not None:
        messages = _render(channel, claimed, outcome)
        _hand_off(channel, carrier, messages, outcome, probe=probe)
    sends_complete(send_ids=Delivery.objects.filter(pk__in=claimed).values("send_id"))
    return outcome


def channel_config_problem(channel: Channel) -> str:
    try:
        ADAPTERS[channel.kind].validate(channel.config, channel.credentials)
    except ConfigError as exc:
        return f"invalid channel configuration: {exc}"
    except DecryptionError as exc:
        return f"credentials unreadable: {exc}"
    return ""


def _carrier(channel: Channel, claimed: list[int], outcome: BatchOutcome) -> tuple[Channel | None, bool]:
    """The channel that carries this batch: itself, its fallback while its circuit is open, or none."""
    decision = circuit_check(channel)
    if decision.allowed:
        return channel, decision.probe
    fallback = channel.fallback
    if fallback and fallback.is_active and fallback.kind == channel.kind:
        fallback_decision = circuit_check(fallback)
        if fallback_decision.allowed:
            return fallback, fallback_decision.probe
    until = datetime.fromtimestamp(decision.retry_at, tz=UTC)
    outcome.deferred += deliveries_defer(ids=claimed, until=until, reason=f"circuit open: {decision.reason}")
    return None, False


def _render(channel: Channel, claimed: list[int], outcome: BatchOutcome) -> list[RenderedMessage]:
    messages: list[RenderedMessage] = []
    rows_by_send = deliveries_rows(ids=claimed)
    sends = Send.objects.in_bulk(list(rows_by_send))
    for send_id, rows in rows_by_send.items():
        prepared = prepare(send=sends[send_id], channel=channel)
        for row in rows:
            try:
                messages.append(prepared.render(row))
            except Exception as exc:  # one bad row must not sink the batch
                logger.exception("rendering delivery %s failed", row.id)
                outcome.failed += deliveries_fail(ids=[row.id], reason=f"rendering failed: {exc}")
    return messages


def _chunks(messages: list[RenderedMessage], size: int) -> list[list[RenderedMessage]]:
    """Chunks of at most `size`, never mixing templates (one provider call carries one template)."""
    groups: dict[object, list[RenderedMessage]] = {}
    for message in messages:
        groups.setdefault(message.template.key if message.template else None, []).append(message)
    return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]


def _hand_off(
    channel: Channel, carrier: Channel, messages: list[RenderedMessage], outcome: BatchOutcome, *, probe: bool
) -> None:
    adapter = adapter_for(carrier)
    rate = carrier.rate_limit_per_second or adapter.default_rate_per_second
    chunks = _chunks(messages, adapter.effective_chunk_size(rate))
    via = carrier if carrier.pk != channel.pk else None
    if probe:  # half-open: one chunk decides whether the circuit closes
        probed = _run_chunks(carrier, adapter, chunks[:1], rate, outcome, via=via)
        chunks = chunks[1:]
        if not probed:
            _stop_rest(chunks, carrier, outcome)
            return
    _run_chunks(carrier, adapter, chunks, rate, outcome, via=via)


def _run_chunks(
    carrier: Channel,
    adapter: ChannelAdapter,
    chunks: list[list[RenderedMessage]],
    rate: float,
    outcome: BatchOutcome,
    *,
    via: Channel | None,
) -> bool:
    """Send chunks with up to `adapter.parallelism` in flight; False when sending stopped early."""
    with ThreadPoolExecutor(max_workers=adapter.parallelism, thread_name_prefix="bulletin-send") as pool:
        runner = _ChunkRunner(carrier, adapter, pool, outcome, via)
        return runner.run(list(chunks), rate)


class _ChunkRunner:
    """Submits chunks under the rate limit and records each as soon as it returns. While it
    waits for rate capacity it keeps recording, so a failing provider stops the batch after
    the calls already in flight, not after the whole batch."""

    def __init__(self, carrier, adapter, pool, outcome, via):
        self.carrier, self.adapter, self.pool, self.outcome, self.via = carrier, adapter, pool, outcome, via
        self.in_flight: dict[Future, list[RenderedMessage]] = {}
        self.stopped = False

    def run(self, queue: list[list[RenderedMessage]], rate: float) -> bool:
        while queue and not self.stopped:
            if len(self.in_flight) >= self.adapter.parallelism:
                self._record(timeout=None)
                continue
            reservation = ratelimit.reserve(key=f"channel:{self.carrier.pk}", rate_per_second=rate, units=len(queue[0]))
            if not reservation.granted:
                _defer_rest(queue, self.carrier, self.outcome, wait=reservation.wait, reason="rate limit: waiting")
                queue = []
                break
            self._record_while_waiting(reservation.wait)
            if self.stopped:
                break
            chunk = queue.pop(0)
            self.in_flight[self.pool.submit(self.adapter.send_batch, chunk)] = chunk
        while self.in_flight:
            self._record(timeout=None)
        if self.stopped and queue:
            _stop_rest(queue, self.carrier, self.outcome)
        return not self.stopped

    def _record_while_waiting(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0 and not self.stopped:
            if not self.in_flight:
                time.sleep(remaining)
                return
            self._record(timeout=remaining)
        if not self.stopped:
            self._record(timeout=0)

    def _record(self, *, timeout: float | None) -> None:
        if not self.in_flight:
            return
        done, _ = wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            chunk = self.in_flight.pop(future)
            if not _record_chunk(self.carrier, chunk, future, self.outcome, via=self.via):
                self.stopped = True


def _record_chunk(
    carrier: Channel, chunk: list[RenderedMessage], future: Future, outcome: BatchOutcome, *, via: Channel | None
) -> bool:
    """Record one chunk; False when the channel must stop (circuit opened or channel disabled)."""
    try:
        results = future.result()
    except PermanentProviderError as exc:
        from channels_app.services.channels import channel_disable

        channel_disable(channel=carrier, reason=exc.message)
        outcome.failed += deliveries_fail(ids=[m.delivery_id for m in chunk], reason=exc.message)
        return False
    except ProviderError as exc:
        opened = circuit_record_failure(carrier, reason=exc.message, paused=isinstance(exc, ProviderPausedError))
        outcome.add(deliveries_record(results=_all_transient(chunk, exc.message, exc.retry_after)))
        return not opened
    except Exception as exc:  # an adapter bug: retried, visible on the rows, never lost
        logger.exception("adapter %s crashed", carrier.kind)
        outcome.add(deliveries_record(results=_all_transient(chunk, f"{type(exc).__name__}: {exc}", None)))
        return True
    circuit_record_success(carrier)
    outcome.add(deliveries_record(results=results, via=via))
    return True


def _all_transient(chunk: list[RenderedMessage], error: str, retry_after: float | None) -> list[SendResult]:
    return [SendResult.failed(m, error, permanent=False, retry_after=retry_after) for m in chunk]


def _defer_rest(
    chunks: list[list[RenderedMessage]], carrier: Channel, outcome: BatchOutcome, *, wait: float, reason: str
) -> None:
    ids = [m.delivery_id for chunk in chunks for m in chunk]
    if ids:
        until = timezone.now() + timedelta(seconds=wait)
        outcome.deferred += deliveries_defer(ids=ids, until=until, reason=reason)
        outcome.retry_due += [(i, wait) for i in ids]


def _stop_rest(chunks: list[list[RenderedMessage]], carrier: Channel, outcome: BatchOutcome) -> None:
    """The circuit opened or the channel was disabled mid-batch: the rest waits or fails."""
    carrier.refresh_from_db(fields=["is_active", "disabled_reason"])
    ids = [m.delivery_id for chunk in chunks for m in chunk]
    if not carrier.is_active:
        outcome.failed += deliveries_fail(ids=ids, reason=f"channel disabled: {carrier.disabled_reason}")
        return
    decision = circuit_check(carrier)
    until = datetime.fromtimestamp(decision.retry_at or time.time() + 1, tz=UTC)
    outcome.deferred += deliveries_defer(ids=ids, until=until, reason=f"circuit open: {decision.reason}")


def sends_complete(*, send_ids) -> int:
    """Mark sending sends whose every delivery reached an end state as completed."""
    unfinished = Delivery.objects.filter(
        send_id=OuterRef("pk"), state__in=[Delivery.State.QUEUED, Delivery.State.SENDING]
    )
    return (
        Send.objects.filter(pk__in=send_ids, status=Send.Status.SENDING, audience_ready=True)
        .exclude(Exists(unfinished))
        .update(status=Send.Status.COMPLETED, finished_at=timezone.now())
    )


def delivery_batch_send_and_follow_up(*, channel_id: int, delivery_ids: Sequence[int]) -> dict:
    """Send one batch, then enqueue its retries that are due soon (longer waits: the sweeper)."""
    from channels_app.services.dispatch import deliveries_dispatch, queue_for

    outcome = delivery_batch_send(channel_id=channel_id, delivery_ids=delivery_ids)
    soon = [(pk, delay) for pk, delay in outcome.retry_due if delay <= settings.DELIVERY_RETRY_INLINE_MAX_SECONDS]
    if soon:
        send = Send.objects.filter(deliveries__pk=soon[0][0]).only("kind", "high_priority").first()
        queue = queue_for(kind=send.kind, high_priority=send.high_priority) if send else "default"
        deliveries_dispatch(
            channel_id=channel_id,
            delivery_ids=sorted(pk for pk, _ in soon),
            queue=queue,
            countdown=max(delay for _, delay in soon),
        )
    return {k: v for k, v in outcome.__dict__.items() if k != "retry_due"}
