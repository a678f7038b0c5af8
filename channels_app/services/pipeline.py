"""The hand-off: one batch of deliveries on one channel, from claim to recorded outcome.

    claim (atomic, under a lease) → groups by recipient domain (routing.py) → per group: circuit
    check (or the first fallback whose circuit allows) → render once per send,
    per recipient → chunks sized for one provider call → shared rate limit → adapter calls
    overlapped in a small thread pool → each chunk's outcome recorded as soon as it returns

Email only, when a mailbox provider is paced or held (mailbox_providers.py): deliveries to a
provider held for their send are deferred before rendering, and the rendered messages are
handed off per provider, each with its provider's pace on top of the channel's limit.

What a batch guarantees (README: delivery guarantees):
- A chunk the provider accepted is written as sent, whatever happens beside it (another
  chunk's error, Redis down, the database restarting: the write waits for it, bounded).
- Every claimed delivery that does not end in a recorded provider outcome (rate limit full,
  circuit open, Redis or the database away, a bug) goes back to `queued` with its due time,
  released by this batch's claim token; nothing waits for a lease to expire while the worker
  lives. The lease is short and renewed while the batch works, so the claims of a worker that
  died come back within DELIVERY_LEASE_SECONDS; only its provider calls in flight at that
  moment (at most `parallelism` chunks) can be sent twice.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Sum

from channels_app.adapters import ADAPTERS, adapter_for
from channels_app.adapters.base import (
    ChannelAdapter,
    ConfigError,
    PermanentProviderError,
    ProviderError,
    ProviderPausedError,
    ProviderThrottledError,
    RenderedMessage,
    SendResult,
)
from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success
from channels_app.models import Channel, Delivery, DeliveryCount, Send
from channels_app.ratelimit import ChannelLimiter
from channels_app.rendering import DeliveryRow, prepare
from channels_app.services.deliveries import (
    Claim,
    RecordedOutcome,
    deliveries_claim_rows,
    deliveries_defer,
    deliveries_fail,
    deliveries_record,
    deliveries_renew_lease,
)
from channels_app.services.mailbox_providers import (
    mailbox_groups,
    mailbox_hold_batch,
    mailbox_paced,
    mailbox_streams_wanted,
)
from channels_app.services.routing import channel_fallback_chain, failover_ready, routing_groups
from core.clock import clock
from core.crypto import DecryptionError
from core.observability.metrics import DELIVERIES_RECORDED, PROVIDER_CALLS, PROVIDER_SECONDS
from core.resilience import INFRA_ERRORS, with_db_retry

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


class Batch:
    """One claim being worked on: what is settled, the lease, and every write of an outcome.

    Each write goes through `with_db_retry` (a provider's acceptance survives a database
    restart) and marks its deliveries settled; `release` puts back whatever is not.
    """

    def __init__(self, claim: Claim, outcome: BatchOutcome, rows: Mapping[int, list[DeliveryRow]], kind: str = ""):
        self.claim, self.outcome, self.rows, self.kind = claim, outcome, rows, kind
        self.channel_id: int | None = None  # the deliveries' own channel
        self.settled: set[int] = set()
        self._renewed_at = clock.time()

    def unsettled(self, ids: Sequence[int] | None = None) -> list[int]:
        return [i for i in (self.claim.ids if ids is None else ids) if i not in self.settled]

    def record(self, results: list[SendResult], *, via: Channel | None = None) -> None:
        recorded = self._write(
            lambda: deliveries_record(results=results, via=via, token=self.claim.token), "recording outcomes"
        )
        self.outcome.add(recorded)
        for name in ("sent", "failed", "retrying", "dead"):
            DELIVERIES_RECORDED.labels(kind=self.kind, outcome=name).inc(getattr(recorded, name))
        self.settled.update(r.delivery_id for r in results)

    def fail(self, ids: Sequence[int], reason: str) -> None:
        ids = self.unsettled(ids)
        self.outcome.failed += self._write(
            lambda: deliveries_fail(ids=ids, reason=reason, token=self.claim.token), "failing deliveries"
        )
        self.settled.update(ids)

    def defer(self, ids: Sequence[int], *, wait: float, reason: str) -> None:
        """Back to queued without spending an attempt, due in `wait` seconds."""
        ids = self.unsettled(ids)
        until = clock.now() + timedelta(seconds=wait)
        deferred = self._write(
            lambda: deliveries_defer(ids=ids, until=until, reason=reason, token=self.claim.token),
            "deferring deliveries",
        )
        self.outcome.deferred += deferred
        DELIVERIES_RECORDED.labels(kind=self.kind, outcome="deferred").inc(deferred)
        self.outcome.retry_due += [(i, wait) for i in ids]
        self.settled.update(ids)

    def release(self, exc: BaseException) -> None:
        """The batch stopped on an error: our infrastructure's waits without costing an attempt;
        anything else (a bug) is a transient failure, so it ends in the dead letters, not a loop."""
        ids = self.unsettled()
        if not ids:
            return
        reason = f"not sent: {type(exc).__name__}: {str(exc)[:300]}"
        if isinstance(exc, INFRA_ERRORS):
            self.defer(ids, wait=settings.DELIVERY_INFRA_RETRY_SECONDS, reason=reason)
        else:
            self.record([SendResult(i, False, error=reason) for i in ids])

    def renew_lease_if_due(self) -> None:
        if clock.time() - self._renewed_at < settings.DELIVERY_LEASE_RENEW_SECONDS:
            return
        self._renewed_at = clock.time()
        try:
            deliveries_renew_lease(claim=self.claim)
        except INFRA_ERRORS as exc:  # a missed renewal is not fatal; the next one may succeed
            logger.warning("lease renewal failed: %s", exc)

    def _write(self, write: Callable, what: str):
        return with_db_retry(write, what=what)


def delivery_batch_send(*, channel_id: int, delivery_ids: Sequence[int]) -> BatchOutcome:
    outcome = BatchOutcome()
    claim, rows = with_db_retry(lambda: deliveries_claim_rows(ids=delivery_ids), what="claiming deliveries")
    outcome.claimed = len(claim.ids)
    if not claim.ids:
        return outcome
    batch = Batch(claim, outcome, rows)
    try:
        _send_claimed(channel_id, batch)
    except Exception as exc:
        logger.warning("batch on channel %s stopped: %s: %s", channel_id, type(exc).__name__, exc)
        batch.release(exc)
        if not isinstance(exc, INFRA_ERRORS):
            logger.exception("batch on channel %s failed", channel_id)
    _complete_quietly(list(rows))
    return outcome


def _send_claimed(channel_id: int, batch: Batch) -> None:
    channel = Channel.objects.get(pk=channel_id)
    batch.kind, batch.channel_id = channel.kind, channel.pk
    if not channel.is_active:
        batch.fail(batch.claim.ids, f"channel disabled: {channel.disabled_reason}")
        return
    problem = channel_config_problem(channel)
    if problem:  # edited into a broken state behind the services' back: stop, say why
        from channels_app.services.channels import channel_disable

        batch.fail(batch.claim.ids, problem)
        channel_disable(channel=channel, reason=problem)
        return
    held = mailbox_streams_wanted(renders_email=ADAPTERS[channel.kind].renders_email, send_ids=batch.rows)
    if held:  # a provider's stream of a send is paused: its deliveries wait, the others go
        mailbox_hold_batch(batch, held)
    rows = (row for rows in batch.rows.values() for row in rows if row.id not in batch.settled)
    for route, ids in routing_groups(channel, rows):
        carrier, probe = _carrier(route, batch, ids)
        if carrier is not None:
            messages = _render(channel, batch, set(ids))
            if held is None:
                _hand_off(channel, carrier, messages, batch, probe=probe, head=route)
            else:
                _hand_off_per_provider(channel, carrier, messages, batch, probe=probe, head=route)


def _hand_off_per_provider(channel, carrier, messages, batch: Batch, *, probe: bool, head: Channel) -> None:
    """Each mailbox provider's messages at its own pace. A probe (half-open circuit) goes with
    the first provider's; the others follow only if it closed the circuit."""
    for n, (provider, group) in enumerate(mailbox_groups(messages)):
        if n and probe and not circuit_check(carrier).allowed:
            _stop_rest([group], carrier, batch, head=head)
            continue
        _hand_off(channel, carrier, group, batch, probe=probe and n == 0, head=head, provider=provider)


def _complete_quietly(send_ids: list[int]) -> None:
    try:
        sends_complete(send_ids=send_ids)
    except INFRA_ERRORS as exc:  # the sweeper completes it on its next run
        logger.warning("could not check send completion: %s", exc)


def channel_config_problem(channel: Channel) -> str:
    adapter = ADAPTERS.get(channel.kind)
    if adapter is None:
        return f"no adapter for channel kind {channel.kind!r}"
    try:
        adapter.validate(channel.config, channel.credentials, audience=channel.audience)
    except ConfigError as exc:
        return f"invalid channel configuration: {exc}"
    except DecryptionError as exc:
        return f"credentials unreadable: {exc}"
    return ""


def _carrier(channel: Channel, batch: Batch, ids: Sequence[int]) -> tuple[Channel | None, bool]:
    """The channel that carries these deliveries: itself, else while its circuit is open the first
    of its fallbacks (in order) whose circuit allows, or none (they wait)."""
    decision = circuit_check(channel)
    if decision.allowed:
        return channel, decision.probe
    for fallback in channel_fallback_chain(channel):
        fallback_decision = circuit_check(fallback)
        if fallback_decision.allowed:
            return fallback, fallback_decision.probe
    wait = max(0.0, decision.retry_at - clock.time())
    batch.defer(ids, wait=wait, reason=f"circuit open: {decision.reason}")
    return None, False


def _render(channel: Channel, batch: Batch, ids: set[int]) -> list[RenderedMessage]:
    messages: list[RenderedMessage] = []
    sends = Send.objects.in_bulk(list(batch.rows))
    for send_id, rows in batch.rows.items():
        rows = [row for row in rows if row.id in ids]
        if not rows:
            continue
        prepared = prepare(send=sends[send_id], channel=channel)
        for row in rows:
            try:
                messages.append(prepared.render(row))
            except Exception as exc:  # one bad row must not sink the batch
                logger.exception("rendering delivery %s failed", row.id)
                batch.fail([row.id], f"rendering failed: {exc}")
    return messages


def _chunks(
    messages: list[RenderedMessage], size: int, target: Callable[[RenderedMessage], str] | None = None
) -> list[list[RenderedMessage]]:
    """Chunks of at most `size`, never mixing templates (one provider call carries one template).
    With `target` (a provider limiting each destination apart), no chunk holds a destination
    twice, and each destination's messages are spread over the chunks."""
    groups: dict[object, list[RenderedMessage]] = {}
    for message in messages:
        groups.setdefault(message.template.key if message.template else None, []).append(message)
    if target is None:
        return [group[i : i + size] for group in groups.values() for i in range(0, len(group), size)]
    return [chunk for group in groups.values() for chunk in _spread(group, size, target)]


def _spread(messages: list[RenderedMessage], size: int, target: Callable[[RenderedMessage], str]):
    seen: Counter[str] = Counter()
    nth = []
    for message in messages:  # every destination's first message, then every second one...
        nth.append(seen[target(message)])
        seen[target(message)] += 1
    chunks: list[list[RenderedMessage]] = []
    for _, message in sorted(zip(nth, messages, strict=True), key=lambda pair: pair[0]):
        chunk = chunks[-1] if chunks else None
        if chunk is None or len(chunk) >= size or any(target(m) == target(message) for m in chunk):
            chunks.append(chunk := [])
        chunk.append(message)
    return chunks


def _hand_off(
    channel: Channel,
    carrier: Channel,
    messages: list[RenderedMessage],
    batch: Batch,
    *,
    probe: bool,
    head: Channel,
    provider: str = "",
) -> None:
    """`head`: the channel whose fallbacks apply (the deliveries' own, or their domain route's);
    `provider`: the mailbox provider all `messages` go to, when its pace applies."""
    adapter = adapter_for(carrier)
    limiter = mailbox_paced(ChannelLimiter.for_channel(carrier, adapter), provider)
    chunks = _chunks(
        messages, adapter.effective_chunk_size(limiter.rate), limiter.target if limiter.target_rate else None
    )
    via = carrier if carrier.pk != channel.pk else None
    if probe:  # half-open: one chunk decides whether the circuit closes
        probed = _ChunkRunner(carrier, adapter, batch, via, probe=True, head=head).run(chunks[:1], limiter)
        chunks = chunks[1:]
        if not probed:
            _stop_rest(chunks, carrier, batch, head=head)
            return
    _ChunkRunner(carrier, adapter, batch, via, head=head).run(chunks, limiter)


class _ChunkRunner:
    """Submits chunks under the rate limit, up to `adapter.parallelism` in flight, and records
    each as soon as it returns. While it waits for rate capacity it keeps recording (and
    renewing the lease), so a failing provider stops the batch after the calls already in
    flight, not after the whole batch. Whatever ends the run, every call in flight is
    recorded before it returns or raises."""

    def __init__(
        self, carrier: Channel, adapter: ChannelAdapter, batch: Batch, via: Channel | None, *, probe=False, head=None
    ):
        self.carrier, self.adapter, self.batch, self.via, self.probe = carrier, adapter, batch, via, probe
        self.head = head or carrier
        self.in_flight: dict[Future, list[RenderedMessage]] = {}
        self.stopped = False
        self.credit = 0  # units reserved on the shared limit and waited for, not yet handed off
        self.success_told_at: float | None = None  # when the circuit last heard of a success

    def run(self, queue: list[list[RenderedMessage]], limiter: ChannelLimiter) -> bool:
        """False when sending stopped early (circuit opened, channel disabled)."""
        queue = list(queue)
        with ThreadPoolExecutor(max_workers=self.adapter.parallelism, thread_name_prefix="bulletin-send") as pool:
            try:
                while queue and not self.stopped:
                    self._submit_next(pool, queue, limiter)
            finally:
                self._drain()
        if self.stopped and queue:
            _stop_rest(queue, self.carrier, self.batch, head=self.head)
        return not self.stopped

    def _submit_next(self, pool: ThreadPoolExecutor, queue: list[list[RenderedMessage]], limiter) -> None:
        if len(self.in_flight) >= self.adapter.parallelism:
            self._record(timeout=settings.DELIVERY_LEASE_RENEW_SECONDS)
            return
        if self.credit < len(queue[0]):
            self.credit = 0
            group = queue[:1] if limiter.target_rate else _reservable(queue, limiter.burst_units)
            try:
                reservation = limiter.reserve([m for chunk in group for m in chunk])  # ceiling and destinations
            except INFRA_ERRORS as exc:  # the shared limiter is away: nothing goes out unmetered
                reason = f"rate limiter: {exc}"
                _defer_rest(queue, self.batch, wait=settings.DELIVERY_INFRA_RETRY_SECONDS, reason=reason)
                queue.clear()
                return
            if not reservation.granted:
                _defer_rest(queue, self.batch, wait=reservation.wait, reason="rate limit: waiting")
                queue.clear()
                return
            if reservation.deferred:  # full destinations wait in the queue, due when they have room
                queue[0] = self._defer_full(queue[0], limiter, reservation.deferred)
                if not queue[0]:
                    queue.pop(0)
                    return
            self.credit = sum(len(chunk) for chunk in group) if not reservation.deferred else len(queue[0])
            self._record_while_waiting(reservation.wait)
        if not self.stopped:
            chunk = queue.pop(0)
            self.credit -= len(chunk)
            self.in_flight[pool.submit(_call_provider, self.adapter, self.carrier.kind, chunk)] = chunk

    def _defer_full(
        self, chunk: list[RenderedMessage], limiter: ChannelLimiter, deferred: Mapping[str, float]
    ) -> list[RenderedMessage]:
        for target, due_in in deferred.items():
            ids = [m.delivery_id for m in chunk if limiter.target(m) == target]
            self.batch.defer(ids, wait=due_in, reason="rate limit: this conversation is at its provider's pace")
        return [m for m in chunk if limiter.target(m) not in deferred]

    def _record_while_waiting(self, seconds: float) -> None:
        deadline = clock.time() + seconds
        while (remaining := deadline - clock.time()) > 0 and not self.stopped:
            step = min(remaining, settings.DELIVERY_LEASE_RENEW_SECONDS)
            if self.in_flight:
                self._record(timeout=step)
            else:
                clock.sleep(step)
                self.batch.renew_lease_if_due()
        if not self.stopped:
            self._record(timeout=0)

    def _record(self, *, timeout: float) -> None:
        self.batch.renew_lease_if_due()
        if not self.in_flight:
            return
        done, _ = wait(self.in_flight, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:
            chunk = self.in_flight.pop(future)
            keep_going = _record_chunk(self.carrier, chunk, future, self.batch, via=self.via, probe=self.probe)
            self.stopped = self.stopped or not keep_going
            if future.exception() is not None:
                self.success_told_at = None  # after a failure, the next success is told at once
            elif keep_going and self._success_due():
                _tell_circuit(circuit_record_success, self.carrier, probe=self.probe)
                self.success_told_at = clock.time()

    def _success_due(self) -> bool:
        """The circuit hears of successes once per CIRCUIT_SUCCESS_EVERY_SECONDS per batch (a
        success only clears the failure count; the probe always reports, since it closes)."""
        told = self.success_told_at
        return self.probe or told is None or clock.time() - told >= settings.CIRCUIT_SUCCESS_EVERY_SECONDS

    def _drain(self) -> None:
        """Record every call still in flight; one failing write does not skip the others."""
        error: Exception | None = None
        while self.in_flight:
            try:
                self._record(timeout=settings.DELIVERY_LEASE_RENEW_SECONDS)
            except Exception as exc:
                error = error or exc
        if error is not None:
            raise error


def _call_provider(adapter: ChannelAdapter, kind: str, chunk: list[RenderedMessage]) -> list[SendResult]:
    """One provider call, timed and counted by outcome for /metrics."""
    started = time.perf_counter()
    outcome = "error"
    try:
        results = adapter.send_batch(chunk)
        outcome = "ok"
        return results
    except ProviderError as exc:
        outcome = _OUTCOMES.get(type(exc), "transient")
        raise
    finally:
        PROVIDER_SECONDS.labels(kind=kind).observe(time.perf_counter() - started)
        PROVIDER_CALLS.labels(kind=kind, outcome=outcome).inc()


_OUTCOMES = {
    PermanentProviderError: "permanent",
    ProviderThrottledError: "throttled",
    ProviderPausedError: "paused",
}


def _record_chunk(
    carrier: Channel, chunk: list[RenderedMessage], future: Future, batch: Batch, *, via: Channel | None, probe: bool
) -> bool:
    """Record one chunk in the database first, then tell the circuit (which lives in Redis and
    may be away: that never costs the outcome). False when the channel must stop."""
    ids = [m.delivery_id for m in chunk]
    try:
        results = future.result()
    except PermanentProviderError as exc:
        from channels_app.services.channels import channel_disable

        batch.fail(ids, exc.message)
        channel_disable(channel=carrier, reason=exc.message)
        return False
    except ProviderError as exc:
        batch.record(_all_transient(chunk, exc.message, exc.retry_after))
        kind = {"paused": isinstance(exc, ProviderPausedError), "throttled": isinstance(exc, ProviderThrottledError)}
        opened = _tell_circuit(circuit_record_failure, carrier, reason=exc.message, probe=probe, **kind)
        return not opened
    except Exception as exc:  # an adapter bug: retried, visible on the rows, never lost
        logger.exception("adapter %s crashed", carrier.kind)
        batch.record(_all_transient(chunk, f"{type(exc).__name__}: {exc}", None))
        return True
    batch.record(results, via=via)
    return True  # the runner tells the circuit (_ChunkRunner._success_due)


def _reservable(queue: list[list[RenderedMessage]], burst_units: float) -> list[list[RenderedMessage]]:
    """The next chunks one reservation covers: as many as fit in the limit's burst (what the
    provider accepts at once), at least one. A fast channel reserves a whole batch in one round
    trip; a slow one (14/s) still reserves chunk by chunk, so the rate holds either way."""
    group, units = [queue[0]], len(queue[0])
    for chunk in queue[1:]:
        if units + len(chunk) > burst_units:
            break
        group.append(chunk)
        units += len(chunk)
    return group


def _tell_circuit(record: Callable[..., bool | None], carrier: Channel, **kwargs) -> bool:
    try:
        return bool(record(carrier, **kwargs))
    except INFRA_ERRORS as exc:
        logger.warning("circuit of channel %s not updated: %s", carrier.pk, exc)
        return record is circuit_record_failure  # unsure whether it opened: stop, the rest waits


def _all_transient(chunk: list[RenderedMessage], error: str, retry_after: float | None) -> list[SendResult]:
    return [SendResult.failed(m, error, permanent=False, retry_after=retry_after) for m in chunk]


def _defer_rest(chunks: list[list[RenderedMessage]], batch: Batch, *, wait: float, reason: str) -> None:
    batch.defer([m.delivery_id for chunk in chunks for m in chunk], wait=wait, reason=reason)


def _stop_rest(chunks: list[list[RenderedMessage]], carrier: Channel, batch: Batch, *, head: Channel) -> None:
    """The circuit opened or the channel was disabled mid-batch: the rest waits or fails; when a
    fallback of `head` after `carrier` can take it, it is due again at once (and goes there)."""
    ids = [m.delivery_id for chunk in chunks for m in chunk]
    if not ids:
        return
    carrier.refresh_from_db(fields=["is_active", "disabled_reason"])
    if not carrier.is_active and carrier.pk != batch.channel_id:  # a fallback or route: the own channel's chain
        batch.defer(ids, wait=1.0, reason=f"channel {carrier.name} disabled: {carrier.disabled_reason}")
        return
    if not carrier.is_active:
        batch.fail(ids, f"channel disabled: {carrier.disabled_reason}")
        return
    try:
        decision = circuit_check(carrier)
    except INFRA_ERRORS as exc:
        batch.defer(ids, wait=settings.DELIVERY_INFRA_RETRY_SECONDS, reason=f"circuit unavailable: {exc}")
        return
    wait = max(decision.retry_at - clock.time(), 1.0) if not decision.allowed else 1.0
    if not decision.allowed and failover_ready(head, after=carrier):
        wait = 1.0
    batch.defer(ids, wait=wait, reason=f"circuit open: {decision.reason}")


def sends_complete(*, send_ids) -> int:
    """Mark sending sends whose every delivery reached an end state as completed. PostgreSQL
    asks the kept counts (a few rows per send); elsewhere the deliveries."""
    if connection.vendor == "postgresql":
        unfinished = (
            DeliveryCount.objects.filter(
                send_id=OuterRef("pk"), state__in=[Delivery.State.QUEUED, Delivery.State.SENDING]
            )
            .values("send_id")
            .annotate(total=Sum("n"))
            .filter(total__gt=0)
        )
    else:
        unfinished = Delivery.objects.filter(
            send_id=OuterRef("pk"), state__in=[Delivery.State.QUEUED, Delivery.State.SENDING]
        )
    return (
        Send.objects.filter(pk__in=send_ids, status=Send.Status.SENDING, audience_ready=True)
        .exclude(Exists(unfinished))
        .update(status=Send.Status.COMPLETED, finished_at=clock.now())
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
