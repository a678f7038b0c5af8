"""Delivering outbound events to webhook endpoints, with what the send pipeline offers:
the webhook adapter's Standard Webhooks signing and its classification of answers (2xx sent,
429/5xx/timeouts transient, other 4xx refused, 410 Gone and refused targets disable the
endpoint), the pipeline's backoff (`retry_delay`: exponential, jittered, Retry-After as a
floor) and the circuit breaker, one per endpoint. Every call goes through core.outbound.

A batch is claimed atomically (`FOR UPDATE SKIP LOCKED`, pending → sending under a lease), so
two workers never send the same delivery. Per subscriber, order holds: a delivery is claimed
only when no earlier event of the same subscriber to the same endpoint is still pending or
sending (a retrying event holds back the later ones; a delivered, refused or dead one no longer
does). Receivers drop repeats by `webhook-id`, the event's stable id.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import CharField, Count, Exists, F, OuterRef, QuerySet, Value
from django.db.models.functions import Cast, Concat

from channels_app.adapters.base import PermanentProviderError, RenderedMessage, SendResult, TransientProviderError
from channels_app.adapters.webhook import WebhookAdapter
from channels_app.circuit import circuit_check, circuit_record_failure, circuit_record_success
from channels_app.event_models import (
    EventDelivery,
    EventDeliveryAttempt,
    EventType,
    OutboundEvent,
    WebhookEndpoint,
)
from channels_app.services.deliveries import retry_delay
from channels_app.services.events import event_deliveries_kick, event_emit, webhook_endpoint_disable
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require

logger = logging.getLogger(__name__)

State = EventDelivery.State
BATCH_SIZE = 100


class EventWebhookAdapter(WebhookAdapter):
    """The webhook adapter as it is, also noting each answer's status for the delivery log."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.statuses: dict[int, int] = {}

    def result_for(self, message, response) -> SendResult:
        self.statuses[message.delivery_id] = response.status_code
        return super().result_for(message, response)


@dataclass
class EventBatchOutcome:
    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    dead: int = 0
    deferred_until: float | None = None
    results: list[SendResult] = field(default_factory=list)


def event_deliveries_send(*, endpoint_id: int, limit: int = BATCH_SIZE) -> EventBatchOutcome:
    """Send one batch of this endpoint's due deliveries (one request per event, one connection)."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).first()
    if endpoint is None:
        return EventBatchOutcome()
    decision = circuit_check(endpoint)
    if not decision.allowed:
        return EventBatchOutcome(deferred_until=decision.retry_at)
    deliveries = _claim(endpoint, limit=1 if decision.probe else limit)
    outcome = EventBatchOutcome(claimed=len(deliveries))
    if not deliveries:  # (a probe without work lapses; the next due event probes)
        return outcome
    adapter = EventWebhookAdapter(config={"url": endpoint.url}, credentials={"secret": endpoint.secret})
    messages = [
        RenderedMessage(delivery_id=d.pk, payload=d.event.payload, message_id=d.event.public_id) for d in deliveries
    ]
    try:
        results = adapter.send_batch(messages)
    except PermanentProviderError as exc:
        webhook_endpoint_disable(endpoint=endpoint, reason=exc.message)
        results = [SendResult.failed(m, exc.message, permanent=False) for m in messages]
    except TransientProviderError as exc:
        results = [SendResult.failed(m, exc.message, permanent=False, retry_after=exc.retry_after) for m in messages]
    finally:
        adapter.close()
    outcome.results = results
    _record(deliveries, results, adapter.statuses, outcome)
    _circuit_note(endpoint, results, probe=decision.probe)
    return outcome


def event_deliveries_drain(*, endpoint_id: int, max_batches: int = 20) -> int:
    """Send batches while there is due work (a task's body); returns deliveries claimed."""
    claimed = 0
    for _ in range(max_batches):
        outcome = event_deliveries_send(endpoint_id=endpoint_id)
        claimed += outcome.claimed
        if outcome.claimed == 0 or outcome.deferred_until is not None:
            break
    return claimed


def _eligible(endpoint: WebhookEndpoint, now) -> QuerySet[EventDelivery]:
    earlier_open = EventDelivery.objects.filter(
        endpoint_id=OuterRef("endpoint_id"),
        ordering_key=OuterRef("ordering_key"),
        event_id__lt=OuterRef("event_id"),
        state__in=EventDelivery.OPEN_STATES,
    ).exclude(ordering_key="")
    return EventDelivery.objects.filter(endpoint=endpoint, state=State.PENDING, next_attempt_at__lte=now).exclude(
        Exists(earlier_open)
    )


@transaction.atomic
def _claim(endpoint: WebhookEndpoint, *, limit: int) -> list[EventDelivery]:
    now = clock.now()
    ids = list(
        _eligible(endpoint, now)
        .select_for_update(skip_locked=True)
        .order_by("event_id")
        .values_list("pk", flat=True)[:limit]
    )
    if not ids:
        return []
    lease = now + timedelta(seconds=settings.EVENT_DELIVERY_LEASE_SECONDS)
    EventDelivery.objects.filter(pk__in=ids).update(
        state=State.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease, updated_at=now
    )
    return list(EventDelivery.objects.filter(pk__in=ids).select_related("event").order_by("event_id"))


def _record(
    deliveries: list[EventDelivery], results: list[SendResult], statuses: dict[int, int], outcome: EventBatchOutcome
) -> None:
    now = clock.now()
    by_id = {d.pk: d for d in deliveries}
    log = []
    with transaction.atomic():
        for result in results:
            delivery = by_id[result.delivery_id]
            status = statuses.get(delivery.pk)
            log.append(
                EventDeliveryAttempt(
                    delivery=delivery, attempted_at=now, ok=result.ok, status_code=status, error=result.error
                )
            )
            changes = {"last_status": status, "last_error": result.error, "lease_expires_at": None, "updated_at": now}
            if result.ok:
                changes.update(state=State.DELIVERED, delivered_at=now)
                outcome.delivered += 1
            elif result.permanent:
                changes["state"] = State.FAILED
                outcome.failed += 1
            elif delivery.attempts >= settings.EVENT_DELIVERY_MAX_ATTEMPTS:
                gave_up = f"{result.error} (gave up after {delivery.attempts} attempts)"
                changes.update(state=State.DEAD, last_error=gave_up)
                outcome.dead += 1
            else:
                delay = retry_delay(attempts=delivery.attempts, retry_after=result.retry_after)
                changes.update(state=State.PENDING, next_attempt_at=now + timedelta(seconds=delay))
                outcome.retrying += 1
            EventDelivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(**changes)
        EventDeliveryAttempt.objects.bulk_create(log)


def _circuit_note(endpoint: WebhookEndpoint, results: list[SendResult], *, probe: bool) -> None:
    """The endpoint is failing when nothing in the batch got through and something failed transiently."""
    if any(r.ok for r in results):
        circuit_record_success(endpoint, probe=probe)
    elif any(not r.permanent for r in results):
        reason = next(r.error for r in results if not r.permanent)
        throttled = any(r.retry_after is not None for r in results)
        circuit_record_failure(endpoint, reason=reason, throttled=throttled, probe=probe)


# --- the sweep (beat) ---------------------------------------------------------------------------


def event_deliveries_sweep() -> dict[str, int]:
    """Take back expired leases, emit send.completed for finished sends, and ask for delivery of
    every active endpoint with due work."""
    now = clock.now()
    reclaimed = EventDelivery.objects.filter(state=State.SENDING, lease_expires_at__lt=now).update(
        state=State.PENDING, lease_expires_at=None, next_attempt_at=now, updated_at=now
    )
    completed = send_completed_events_emit()
    due = list(
        EventDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now, endpoint__is_active=True)
        .order_by()
        .values_list("endpoint_id", flat=True)
        .distinct()
    )
    event_deliveries_kick(endpoint_ids=due)
    return {"reclaimed": reclaimed, "send_completed": completed, "endpoints": len(due)}


def send_completed_events_emit(*, limit: int = 500) -> int:
    """One send.completed per finished send, once (the send pipeline marks sends completed in bulk;
    this reads what it committed). Only sends finished since the earliest interested endpoint."""
    from channels_app.models import Delivery, Send

    endpoints = [e for e in WebhookEndpoint.objects.filter(is_active=True) if EventType.SEND_COMPLETED in e.event_types]
    if not endpoints:
        return 0
    since = max(min(e.created_at for e in endpoints), clock.now() - timedelta(days=1))
    key = Concat(Value("send.completed:"), Cast(OuterRef("pk"), CharField()))
    sends = (
        Send.objects.filter(status=Send.Status.COMPLETED, finished_at__gte=since)
        .exclude(Exists(OutboundEvent.objects.filter(dedupe_key=key)))
        .order_by("finished_at")[:limit]
    )
    emitted = 0
    for send in sends:
        rows = Delivery.objects.filter(send=send).order_by().values("state").annotate(n=Count("pk"))
        counts = {row["state"]: row["n"] for row in rows}
        data = {
            "send": {
                "id": send.pk,
                "kind": send.kind,
                "publication_id": send.publication_id,
                "finished_at": send.finished_at.isoformat().replace("+00:00", "Z"),
                "deliveries": counts,
            }
        }
        with transaction.atomic():
            key = f"send.completed:{send.pk}"
            emitted += bool(event_emit(type=EventType.SEND_COMPLETED, data=data, dedupe_key=key))
    return emitted


# --- replay (admin) -----------------------------------------------------------------------------


@transaction.atomic
def event_deliveries_replay(*, deliveries: QuerySet[EventDelivery], actor) -> int:
    """Send these deliveries again (delivered, refused or dead ones), with the same webhook-id:
    receivers that already processed it can tell. Pending and sending ones are left alone."""
    role_require(actor, Role.ADMIN, "Replaying events")
    now = clock.now()
    ids = list(deliveries.exclude(state__in=EventDelivery.OPEN_STATES).values_list("pk", flat=True))
    if not ids:
        raise ApplicationError("Nothing to replay: choose delivered, failed or dead deliveries.")
    changed = EventDelivery.objects.filter(pk__in=ids).update(
        state=State.PENDING, attempts=0, next_attempt_at=now, last_error="", delivered_at=None, updated_at=now
    )
    endpoint_ids = set(EventDelivery.objects.filter(pk__in=ids).values_list("endpoint_id", flat=True))
    transaction.on_commit(lambda: event_deliveries_kick(endpoint_ids=endpoint_ids))
    return changed
