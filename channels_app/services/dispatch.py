"""Enqueueing batches of deliveries: one broker message per DELIVERY_BATCH_SIZE deliveries.

Always after commit (a worker must find the rows it is told about), on the send's queue:
alerts never wait behind a newsletter or digest fan-out.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings
from django.db import transaction

from channels_app.models import Send

ALERTS, DEFAULT, BULK = "alerts", "default", "bulk"


def queue_for(*, kind: str, high_priority: bool) -> str:
    if high_priority:
        return ALERTS
    return BULK if kind in (Send.Kind.NEWSLETTER, Send.Kind.DIGEST) else DEFAULT


def deliveries_dispatch(
    *, channel_id: int, delivery_ids: Sequence[int], queue: str, countdown: float | None = None
) -> int:
    """Enqueue `delivery_ids` in batches once the current transaction commits; returns messages."""
    from channels_app.tasks import delivery_batch_send_task

    size = settings.DELIVERY_BATCH_SIZE
    batches = [list(delivery_ids[i : i + size]) for i in range(0, len(delivery_ids), size)]
    for batch in batches:
        transaction.on_commit(
            lambda batch=batch: delivery_batch_send_task.apply_async(
                kwargs={"channel_id": channel_id, "delivery_ids": batch}, queue=queue, countdown=countdown
            )
        )
    return len(batches)
