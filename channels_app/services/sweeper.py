"""The sweeper (beat, every few seconds): re-enqueues work nobody is going to pick up.

1. Leases that expired: a worker claimed deliveries and died (live batches renew their lease
   every DELIVERY_LEASE_RENEW_SECONDS). They go back to queued, due now, their attempt counted.
2. Queued work of a sending send with no broker message that can still arrive:
   - due retries and deferrals whose message, if any, was published before they came due;
   - rows whose message was never published (the broker refused it);
   - rows whose message the broker lost: published before the broker last started empty
     (`core.broker.broker_started_empty_at`); or held by a worker that died with it reserved:
     published more than DELIVERY_IDLE_REDISPATCH_AFTER ago while no message waits in the
     broker at all; or, whatever the broker says, longer ago than DELIVERY_REDISPATCH_AFTER.
   Each is published again and its `enqueued_at` set, so it is not published on every sweep.
   A message published twice is harmless: claims are atomic, the second finds nothing to do.
3. Warm-up plans let out the day's room (services/warmup.py) before step 2 looks, so what
   the cap still holds is never found due.
4. Sends whose every delivery is settled are marked completed (in case the batch that
   settled the last one could not say so).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q

from channels_app.models import Delivery, Send
from channels_app.services.dispatch import deliveries_dispatch, queue_for
from core.broker import broker_messages_waiting, broker_started_empty_at
from core.clock import clock

SWEEP_LIMIT = 50_000


@dataclass(frozen=True)
class SweepOutcome:
    reclaimed: int
    enqueued: int
    messages: int
    completed: int = 0


def deliveries_sweep(*, limit: int = SWEEP_LIMIT) -> SweepOutcome:
    from channels_app.services.pipeline import sends_complete
    from channels_app.services.warmup import warmups_release

    now = clock.now()
    reclaimed = _reclaim_expired(now, limit)
    warmups_release(now=now)  # before looking for due work: a new day's held rows move on first
    rows = list(
        Delivery.objects.filter(_needs_message(now), state=Delivery.State.QUEUED, send__status=Send.Status.SENDING)
        .order_by()
        .values_list("pk", "channel_id", "send__kind", "send__high_priority")[:limit]
    )
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for pk, channel_id, kind, high_priority in rows:
        groups[(channel_id, queue_for(kind=kind, high_priority=high_priority))].append(pk)
    messages = sum(
        deliveries_dispatch(channel_id=channel_id, delivery_ids=sorted(ids), queue=queue)
        for (channel_id, queue), ids in groups.items()
    )
    completed = sends_complete(
        send_ids=Send.objects.filter(status=Send.Status.SENDING, audience_ready=True).values("pk")
    )
    return SweepOutcome(reclaimed=reclaimed, enqueued=len(rows), messages=messages, completed=completed)


def _reclaim_expired(now, limit: int) -> int:
    expired = list(
        Delivery.objects.filter(state=Delivery.State.SENDING, lease_expires_at__lt=now).values_list("pk", flat=True)[
            :limit
        ]
    )
    # The lease token stays: if the lost worker was only cut off and records a provider's
    # acceptance later, that still lands (see deliveries_record).
    return Delivery.objects.filter(pk__in=expired, state=Delivery.State.SENDING, lease_expires_at__lt=now).update(
        state=Delivery.State.QUEUED,
        lease_expires_at=None,
        next_attempt_at=now,
        updated_at=now,
        last_error="lease expired: the worker was lost before recording the outcome",
    )


def _needs_message(now) -> Q:
    """Queued rows that no broker message will bring to a worker."""
    lost_before = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_AFTER_SECONDS)
    if (started_empty := broker_started_empty_at()) is not None:
        lost_before = max(lost_before, started_empty)
    if broker_messages_waiting() == 0:
        lost_before = max(lost_before, now - timedelta(seconds=settings.DELIVERY_IDLE_REDISPATCH_AFTER_SECONDS))
    ready = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    due_since_published = Q(next_attempt_at__lte=now, enqueued_at__lt=F("next_attempt_at"))
    never_published = ready & Q(enqueued_at__isnull=True)
    message_lost = ready & Q(enqueued_at__lt=lost_before)
    return due_since_published | never_published | message_lost
