"""The sweeper (beat, every few seconds): re-enqueues work nobody is going to pick up.

1. Leases that expired: a worker claimed deliveries and died before recording them. They go
   back to queued (their attempt counted) and are enqueued again.
2. Retries that came due, and queued work whose broker message was lost: enqueued again.
A delivery enqueued by the sweeper is touched (updated_at), so it is not enqueued again on
every sweep while its message waits in the broker.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from channels_app.models import Delivery, Send
from channels_app.services.dispatch import deliveries_dispatch, queue_for

SWEEP_LIMIT = 50_000


@dataclass(frozen=True)
class SweepOutcome:
    reclaimed: int
    enqueued: int
    messages: int


def deliveries_sweep(*, limit: int = SWEEP_LIMIT) -> SweepOutcome:
    now = timezone.now()
    expired = list(
        Delivery.objects.filter(state=Delivery.State.SENDING, lease_expires_at__lt=now).values_list("pk", flat=True)[
            :limit
        ]
    )
    reclaimed = Delivery.objects.filter(pk__in=expired, state=Delivery.State.SENDING, lease_expires_at__lt=now).update(
        state=Delivery.State.QUEUED,
        lease_expires_at=None,
        next_attempt_at=now,
        updated_at=now - timedelta(microseconds=1),
        last_error="lease expired: the worker was lost before recording the outcome",
    )
    stale = now - timedelta(seconds=settings.DELIVERY_REDISPATCH_AFTER_SECONDS)
    due = Q(next_attempt_at__lte=now, updated_at__lt=F("next_attempt_at"))
    lost = Q(updated_at__lt=stale) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    rows = list(
        Delivery.objects.filter(due | lost, state=Delivery.State.QUEUED, send__status=Send.Status.SENDING).values_list(
            "pk", "channel_id", "send__kind", "send__high_priority"
        )[:limit]
    )
    if not rows:
        return SweepOutcome(reclaimed=reclaimed, enqueued=0, messages=0)
    Delivery.objects.filter(pk__in=[r[0] for r in rows], state=Delivery.State.QUEUED).update(updated_at=now)
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for pk, channel_id, kind, high_priority in rows:
        groups[(channel_id, queue_for(kind=kind, high_priority=high_priority))].append(pk)
    messages = sum(
        deliveries_dispatch(channel_id=channel_id, delivery_ids=sorted(ids), queue=queue)
        for (channel_id, queue), ids in groups.items()
    )
    return SweepOutcome(reclaimed=reclaimed, enqueued=len(rows), messages=messages)
