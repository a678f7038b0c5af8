"""Sends: create (idempotent by key), start, pause, resume, cancel, requeue dead letters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from channels_app.models import Delivery, Send
from channels_app.selectors import delivery_counts
from channels_app.services.dispatch import deliveries_dispatch, queue_for
from core.exceptions import ApplicationError
from core.roles import Role, role_require


def send_create(
    *,
    key: str,
    kind: str,
    subject: str = "",
    content: dict[str, Any] | None = None,
    audience: dict[str, Any] | None = None,
    high_priority: bool = False,
    publication=None,
    actor=None,
) -> tuple[Send, bool]:
    """One send per key, ever: creating it again returns the existing one (created=False)."""
    return Send.objects.get_or_create(
        key=key,
        defaults={
            "kind": kind,
            "subject": subject,
            "content": content or {},
            "audience": audience or {},
            "high_priority": high_priority,
            "publication": publication,
            "created_by": actor,
        },
    )


@transaction.atomic
def send_pause(*, send: Send, reason: str, actor=None) -> Send:
    """Stop claiming new batches; in-flight chunks finish. Resume picks up where it stopped.
    `actor`: the person asking (publisher role), None for the system (the deliverability guard)."""
    role_require(actor, Role.PUBLISHER, "Pausing a send")
    updated = Send.objects.filter(pk=send.pk, status=Send.Status.SENDING).update(
        status=Send.Status.PAUSED, paused_reason=reason[:2000]
    )
    if not updated:
        raise ApplicationError(f"Only a sending send can be paused (this one is {send.status}).")
    send.refresh_from_db(fields=["status", "paused_reason"])
    return send


@transaction.atomic
def send_resume(*, send: Send, actor=None) -> Send:
    role_require(actor, Role.PUBLISHER, "Resuming a send")
    updated = Send.objects.filter(pk=send.pk, status=Send.Status.PAUSED).update(
        status=Send.Status.SENDING, paused_reason=""
    )
    if not updated:
        raise ApplicationError(f"Only a paused send can be resumed (this one is {send.status}).")
    send.refresh_from_db(fields=["status", "paused_reason"])
    _dispatch_queued(send)
    return send


@transaction.atomic
def send_cancel(*, send: Send, reason: str = "cancelled", actor=None) -> int:
    """Fail every delivery not yet handed over; returns how many."""
    role_require(actor, Role.PUBLISHER, "Cancelling a send")
    if send.status in (Send.Status.COMPLETED, Send.Status.CANCELLED):
        raise ApplicationError(f"This send is already {send.status}.")
    Send.objects.filter(pk=send.pk).update(
        status=Send.Status.CANCELLED, finished_at=timezone.now(), paused_reason=reason
    )
    return send.deliveries.filter(state=Delivery.State.QUEUED).update(
        state=Delivery.State.FAILED, last_error=f"send cancelled: {reason}", updated_at=timezone.now()
    )


@transaction.atomic
def deliveries_requeue(*, deliveries: QuerySet[Delivery], actor=None) -> int:
    """Dead or failed deliveries back to queued with fresh attempts (the dead-letter requeue)."""
    role_require(actor, Role.PUBLISHER, "Requeueing deliveries")
    rows = list(deliveries.filter(state__in=[Delivery.State.DEAD, Delivery.State.FAILED]).values_list("pk", "send_id"))
    if not rows:
        return 0
    ids = [pk for pk, _ in rows]
    Delivery.objects.filter(pk__in=ids).update(
        state=Delivery.State.QUEUED, attempts=0, next_attempt_at=None, lease_expires_at=None, updated_at=timezone.now()
    )
    send_ids = {send_id for _, send_id in rows}
    Send.objects.filter(pk__in=send_ids, status=Send.Status.COMPLETED).update(
        status=Send.Status.SENDING, finished_at=None
    )
    for send in Send.objects.filter(pk__in=send_ids, status=Send.Status.SENDING):
        _dispatch_queued(send, only=ids)
    return len(ids)


def send_progress(*, send: Send) -> dict[str, int]:
    """Deliveries per state (every state present, zeros included) and the total."""
    return sends_progress(send_ids=[send.pk])[send.pk]


def sends_progress(*, send_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """send_progress of many sends in one query (a page of the sends list)."""
    progress = {pk: dict.fromkeys(Delivery.State.values, 0) for pk in send_ids}
    for send_id, _, state, n in delivery_counts(send_ids=send_ids):
        progress[send_id][state] += n
    for counts in progress.values():
        counts["total"] = sum(counts.values())
    return progress


def _dispatch_queued(send: Send, only: list[int] | None = None) -> None:
    queued = send.deliveries.filter(state=Delivery.State.QUEUED)
    if only is not None:
        queued = queued.filter(pk__in=only)
    by_channel: dict[int, list[int]] = defaultdict(list)
    for pk, channel_id in queued.order_by("pk").values_list("pk", "channel_id"):
        by_channel[channel_id].append(pk)
    queue = queue_for(kind=send.kind, high_priority=send.high_priority)
    for channel_id, ids in by_channel.items():
        deliveries_dispatch(channel_id=channel_id, delivery_ids=ids, queue=queue)
