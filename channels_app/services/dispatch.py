"""Enqueueing batches of deliveries: one broker message per DELIVERY_BATCH_SIZE deliveries.

Always after commit (a worker must find the rows it is told about), on the send's queue:
alerts never wait behind a newsletter or digest fan-out.

The database, not the broker, is the record of what must be sent: each delivery notes when a
message for it was published (`enqueued_at`). Publishing may fail (the broker is down or
restarting); then the rows are marked as never enqueued and the sweeper publishes them as
soon as the broker answers again. Nobody's request fails because the broker did.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from channels_app.models import Delivery, Send
from core.clock import clock
from core.resilience import INFRA_ERRORS

logger = logging.getLogger(__name__)

ALERTS, DEFAULT, BULK = "alerts", "default", "bulk"


def queue_for(*, kind: str, high_priority: bool) -> str:
    if high_priority:
        return ALERTS
    return BULK if kind in (Send.Kind.NEWSLETTER, Send.Kind.DIGEST) else DEFAULT


def deliveries_dispatch(
    *,
    channel_id: int,
    delivery_ids: Sequence[int],
    queue: str,
    countdown: float | None = None,
    marked: bool = False,
) -> int:
    """Enqueue `delivery_ids` in batches once the current transaction commits; returns messages.

    `marked`: the rows' `enqueued_at` is already set (the fan-out's INSERT sets it); otherwise
    it is set here, to when the message becomes visible to workers.
    """
    ids = list(delivery_ids)
    if not ids:
        return 0
    if not marked:
        visible_at = clock.now() + timedelta(seconds=countdown or 0)
        Delivery.objects.filter(pk__in=ids, state=Delivery.State.QUEUED).update(enqueued_at=visible_at)
    size = settings.DELIVERY_BATCH_SIZE
    batches = [ids[i : i + size] for i in range(0, len(ids), size)]
    for batch in batches:
        transaction.on_commit(lambda batch=batch: _publish(channel_id, batch, queue, countdown))
    return len(batches)


def _publish(channel_id: int, batch: list[int], queue: str, countdown: float | None) -> None:
    from channels_app.tasks import delivery_batch_send_task

    try:
        delivery_batch_send_task.apply_async(
            kwargs={"channel_id": channel_id, "delivery_ids": batch}, queue=queue, countdown=countdown
        )
    except INFRA_ERRORS as exc:
        logger.warning("broker unavailable, %s deliveries left for the sweeper: %s", len(batch), exc)
        _mark_not_enqueued(batch)


def _mark_not_enqueued(batch: list[int]) -> None:
    try:
        Delivery.objects.filter(pk__in=batch, state=Delivery.State.QUEUED).update(enqueued_at=None)
    except INFRA_ERRORS as exc:  # then the sweeper finds them as lost, later
        logger.warning("could not mark %s deliveries as not enqueued: %s", len(batch), exc)
