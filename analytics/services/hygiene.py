"""List hygiene on provider feedback: hard bounces and complaints suppress an address at once,
soft bounces after HYGIENE_SOFT_BOUNCE_LIMIT within HYGIENE_SOFT_BOUNCE_WINDOW_DAYS.

Every automatic change is a HygieneAction row (admin: Analytics → List hygiene actions) with
its reason; the suppression itself goes through subscribers.services.suppression_add, which
keeps the stronger reason and syncs the subscriber's status.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.models import HygieneAction, ProviderNotification
from core.exceptions import ApplicationError
from subscribers.models import Subscriber, Suppression
from subscribers.services import suppression_add

logger = logging.getLogger(__name__)
Kind = HygieneAction.Kind


@dataclass(frozen=True)
class Feedback:
    """One recipient's bounce or complaint, as hygiene needs it."""

    email: str
    kind: str  # "bounce" or "complaint"
    bounce_type: str  # "hard", "soft" or "" (complaint)
    reason: str
    dedupe: str  # SNS message id + recipient: the same feedback twice changes nothing
    subscriber_id: int | None = None
    delivery_id: int | None = None
    notification: ProviderNotification | None = None


def hygiene_feedback_apply(*, feedback: Feedback) -> str:
    """Apply one bounce or complaint; returns what happened ("suppressed", "counted", "repeat", "skipped")."""
    email = feedback.email.strip().lower()
    if feedback.kind == "complaint":
        return _suppress(feedback, email, Kind.SUPPRESSED_COMPLAINT, Suppression.Reason.COMPLAINT)
    if feedback.bounce_type == "hard":
        return _suppress(feedback, email, Kind.SUPPRESSED_HARD_BOUNCE, Suppression.Reason.HARD_BOUNCE)
    if not hygiene_action_record(feedback=feedback, email=email, kind=Kind.SOFT_BOUNCE, reason=feedback.reason):
        return "repeat"
    since = timezone.now() - timedelta(days=settings.HYGIENE_SOFT_BOUNCE_WINDOW_DAYS)
    count = HygieneAction.objects.filter(email=email, kind=Kind.SOFT_BOUNCE, created_at__gte=since).count()
    if count < settings.HYGIENE_SOFT_BOUNCE_LIMIT:
        return "counted"
    reason = (
        f"{count} soft bounces within {settings.HYGIENE_SOFT_BOUNCE_WINDOW_DAYS} days "
        f"(limit {settings.HYGIENE_SOFT_BOUNCE_LIMIT}); last: {feedback.reason}"
    )
    return _suppress(feedback, email, Kind.SUPPRESSED_SOFT_BOUNCES, Suppression.Reason.SOFT_BOUNCE, reason=reason)


def _suppress(feedback: Feedback, email: str, kind: str, reason_code: str, *, reason: str = "") -> str:
    reason = reason or feedback.reason
    try:
        suppression_add(email=email, reason=reason_code, note=f"Automatic: {reason}")
    except ApplicationError as exc:
        logger.warning("feedback for an address we cannot suppress (%s): %s", exc.extra or exc.message, feedback.dedupe)
        return "skipped"
    created = hygiene_action_record(feedback=feedback, email=email, kind=kind, reason=reason)
    return "suppressed" if created else "repeat"


def hygiene_action_record(*, feedback: Feedback | None = None, email: str, kind: str, reason: str, **fields) -> bool:
    """One HygieneAction; False when this exact action was recorded before (same dedupe key)."""
    subscriber_id = fields.pop("subscriber_id", None) or (feedback.subscriber_id if feedback else None)
    if subscriber_id is None and email:
        subscriber_id = Subscriber.objects.filter(email__lower=email).values_list("pk", flat=True).first()
    if feedback is not None:
        fields.update(
            delivery_id=feedback.delivery_id,
            notification=feedback.notification,
            dedupe_key=f"{kind}:{feedback.dedupe}",
        )
    try:
        with transaction.atomic():
            HygieneAction.objects.create(
                subscriber_id=subscriber_id, email=email, kind=kind, reason=reason[:2000], **fields
            )
    except IntegrityError:
        return False
    return True
