"""The suppression list: addresses never selected into an audience, kept in step with status."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from channels_app.event_models import EventType
from channels_app.services.events import event_emit, subscriber_event_emit
from core.exceptions import ApplicationError
from subscribers.models import Subscriber, Suppression, email_hash
from subscribers.validators import email_normalize

logger = logging.getLogger(__name__)

Reason = Suppression.Reason
Status = Subscriber.Status

# What a subscriber's status becomes when their address is suppressed for a reason.
# Manual entries block mail without claiming anything about the person: status unchanged.
_STATUS_FOR_REASON = {
    Reason.UNSUBSCRIBED: Status.UNSUBSCRIBED,
    Reason.SOFT_BOUNCE: Status.BOUNCED,
    Reason.HARD_BOUNCE: Status.BOUNCED,
    Reason.COMPLAINT: Status.COMPLAINED,
}
# A stronger status is never replaced by a weaker one (a complaint stays a complaint).
_STATUS_RANK = {Status.PENDING: 0, Status.ACTIVE: 0, Status.UNSUBSCRIBED: 1, Status.BOUNCED: 2, Status.COMPLAINED: 3}
_REASON_RANK = {
    Reason.INACTIVE: 0,
    Reason.UNSUBSCRIBED: 1,
    Reason.MANUAL: 2,
    Reason.SOFT_BOUNCE: 3,
    Reason.HARD_BOUNCE: 4,
    Reason.COMPLAINT: 5,
    Reason.ERASED: 6,
}
# Lifting these means someone decided the address is safe again: they must say why.
REMOVAL_NEEDS_NOTE = frozenset({Reason.HARD_BOUNCE, Reason.COMPLAINT, Reason.ERASED})


@transaction.atomic
def suppression_add(*, email: str, reason: str, note: str = "", actor=None) -> Suppression:
    """Suppress an address (idempotent). An existing entry keeps the stronger of the two reasons."""
    try:
        email = email_normalize(email)
    except ValidationError as exc:
        raise ApplicationError.for_fields({"email": exc.messages})
    if reason not in Reason.values:
        raise ApplicationError.for_fields({"reason": f"Unknown reason {reason!r}."})
    suppression, created = Suppression.objects.select_for_update().get_or_create(
        email_hash=email_hash(email),
        defaults={"email": email, "reason": reason, "note": note, "created_by": actor},
    )
    stronger = not created and _REASON_RANK[reason] > _REASON_RANK[suppression.reason]
    if stronger:
        suppression.reason = reason
        suppression.note = "\n".join(filter(None, [suppression.note, note]))
        suppression.save(update_fields=["reason", "note"])
    _subscriber_status_sync(email=email, reason=suppression.reason)
    _automations_leave(email=email, reason=suppression.reason)
    if (created or stronger) and suppression.reason != Reason.UNSUBSCRIBED:  # that one is subscriber.unsubscribed
        _suppressed_emit(email=email, reason=suppression.reason)
    return suppression


def _suppressed_emit(*, email: str, reason: str) -> None:
    subscriber = Subscriber.objects.filter(email__lower=email).first()
    if subscriber is not None:
        subscriber_event_emit(type=EventType.SUBSCRIBER_SUPPRESSED, subscriber=subscriber, reason=reason)
    else:
        event_emit(type=EventType.SUBSCRIBER_SUPPRESSED, data={"subscriber": None, "email": email, "reason": reason})


def _automations_leave(*, email: str, reason: str) -> None:
    """A suppressed address (unsubscribed too) leaves every automation at once."""
    from publishing.services.automations.enroll import automations_leave

    ids = list(Subscriber.objects.filter(email__lower=email).values_list("pk", flat=True))
    automations_leave(subscriber_ids=ids, reason=f"suppressed ({reason})")


def _subscriber_status_sync(*, email: str, reason: str) -> None:
    target = _STATUS_FOR_REASON.get(reason)
    if target is None:
        return
    subscriber = Subscriber.objects.select_for_update().filter(email__lower=email).first()
    if subscriber is None or _STATUS_RANK[target] <= _STATUS_RANK[subscriber.status]:
        return
    subscriber.status = target
    fields = ["status", "updated_at"]
    if target == Status.UNSUBSCRIBED:
        subscriber.unsubscribed_at = timezone.now()
        fields.append("unsubscribed_at")
    subscriber.save(update_fields=fields)


@transaction.atomic
def suppression_remove(*, suppression: Suppression, actor=None, note: str = "") -> None:
    """Lift a suppression. A bounced or complained subscriber becomes mailable again (active if
    they had confirmed); an unsubscribed one stays unsubscribed until they opt in again."""
    if suppression.reason in REMOVAL_NEEDS_NOTE and not note.strip():
        raise ApplicationError.for_fields(
            {"note": f"Say why a {suppression.get_reason_display().lower()} entry can be removed."}
        )
    if suppression.email:
        subscriber = Subscriber.objects.select_for_update().filter(email__lower=suppression.email).first()
        if subscriber and subscriber.status in (Status.BOUNCED, Status.COMPLAINED):
            subscriber.status = Status.ACTIVE if subscriber.confirmed_at else Status.PENDING
            subscriber.save(update_fields=["status", "updated_at"])
    logger.info(
        "suppression %s (%s) removed by %s: %s", suppression.pk, suppression.reason, actor or "system", note.strip()
    )
    suppression.delete()
