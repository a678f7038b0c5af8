"""The sunset policy (a daily beat task): stop mailing people who stopped reading.

An active subscriber is inactive when they got at least SUNSET_MIN_DELIVERIES messages in the
last SUNSET_INACTIVE_DAYS and opened or clicked none of them (human engagement only: Apple
Mail Privacy Protection opens and scanner clicks do not count). SUNSET_ACTION decides:
    mark       a "sunset_marked" hygiene action, nothing else
    reengage   marked, and one "still interested?" message with a keep-me link; still silent
               SUNSET_GRACE_DAYS later: suppressed
    suppress   marked and suppressed at once
Every step is a HygieneAction with its reason (admin), suppression goes through suppression_add.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from analytics.links import InvalidTrackingToken, keep_token_read, keep_url
from analytics.models import HygieneAction, SubscriberEngagement
from analytics.services.hygiene import hygiene_action_record
from analytics.tasks import reengage_message_send_task
from subscribers.models import Subscriber, Suppression, email_hash
from subscribers.selectors import mailable_subscribers
from subscribers.services import suppression_add
from subscribers.services.messages import system_email_send

logger = logging.getLogger(__name__)
Kind = HygieneAction.Kind
ACTIONS = ("off", "mark", "reengage", "suppress")


@dataclass
class SunsetResult:
    marked: int = 0
    reengaged: int = 0
    suppressed: int = 0


def sunset_apply(*, now: datetime | None = None, limit: int = 5000) -> SunsetResult:
    result = SunsetResult()
    action = settings.SUNSET_ACTION
    if action not in ACTIONS:
        raise ValueError(f"SUNSET_ACTION must be one of {', '.join(ACTIONS)}, not {action!r}")
    if action == "off":
        return result
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SUNSET_INACTIVE_DAYS)
    for subscriber in sunset_candidates(since=cutoff, now=now)[:limit]:
        reason = (
            f"No human open or click in {settings.SUNSET_INACTIVE_DAYS} days "
            f"across {subscriber.recent_messages} messages (since {cutoff:%Y-%m-%d})"
        )
        with transaction.atomic():
            hygiene_action_record(
                email=subscriber.email, kind=Kind.SUNSET_MARKED, reason=reason, subscriber_id=subscriber.pk
            )
            result.marked += 1
            if action == "suppress":
                result.suppressed += _suppress(subscriber, reason)
            elif action == "reengage":
                hygiene_action_record(
                    email=subscriber.email, kind=Kind.SUNSET_REENGAGE, reason=reason, subscriber_id=subscriber.pk
                )
                transaction.on_commit(partial(reengage_message_send_task.delay, subscriber_id=subscriber.pk))
                result.reengaged += 1
    if action == "reengage":
        for subscriber in _grace_expired(now=now)[:limit]:
            days = settings.SUNSET_GRACE_DAYS
            result.suppressed += _suppress(subscriber, f"No engagement {days} days after the re-engagement message")
    return result


def sunset_candidates(*, since: datetime, now: datetime):
    """Mailable subscribers who got enough messages since `since` and engaged with none, not yet marked."""
    engaged = SubscriberEngagement.objects.filter(subscriber=OuterRef("pk"), last_engaged_at__gte=since)
    handled = HygieneAction.objects.filter(
        subscriber=OuterRef("pk"), kind__in=[Kind.SUNSET_MARKED, Kind.SUNSET_KEPT], created_at__gte=since
    )
    return (
        mailable_subscribers(now=now)
        .filter(created_at__lt=since)
        .filter(~Exists(engaged), ~Exists(handled))
        .annotate(recent_messages=Count("deliveries", filter=Q(deliveries__sent_at__gte=since)))
        .filter(recent_messages__gte=settings.SUNSET_MIN_DELIVERIES)
        .order_by("pk")
    )


def _grace_expired(*, now: datetime):
    """Re-engaged more than SUNSET_GRACE_DAYS ago, still mailable, and silent since."""
    deadline = now - timedelta(days=settings.SUNSET_GRACE_DAYS)
    asked = HygieneAction.objects.filter(subscriber=OuterRef("pk"), kind=Kind.SUNSET_REENGAGE)
    asked_long_ago = asked.filter(created_at__lt=deadline)
    answered = HygieneAction.objects.filter(
        subscriber=OuterRef("pk"), kind__in=[Kind.SUNSET_KEPT, Kind.SUNSET_SUPPRESSED], created_at__gte=deadline
    )
    engaged = SubscriberEngagement.objects.filter(
        subscriber=OuterRef("pk"), last_engaged_at__gte=now - timedelta(days=settings.SUNSET_GRACE_DAYS * 2)
    )
    return (
        mailable_subscribers(now=now)
        .filter(Exists(asked_long_ago), ~Exists(asked.filter(created_at__gte=deadline)))
        .filter(~Exists(answered), ~Exists(engaged))
        .order_by("pk")
    )


def _suppress(subscriber: Subscriber, reason: str) -> int:
    suppression_add(email=subscriber.email, reason=Suppression.Reason.INACTIVE, note=f"Sunset policy: {reason}")
    hygiene_action_record(
        email=subscriber.email, kind=Kind.SUNSET_SUPPRESSED, reason=reason, subscriber_id=subscriber.pk
    )
    return 1


def sunset_keep_subscriber(*, token: str) -> Subscriber | None:
    """Whom a "keep sending me" link is for; None for a bad token. Reads only: the page a GET
    shows (link scanners GET every link; only the button's POST counts)."""
    try:
        return Subscriber.objects.filter(pk=keep_token_read(token)).first()
    except InvalidTrackingToken:
        return None


def sunset_keep(*, token: str) -> Subscriber | None:
    """The subscriber pressed "keep sending me": that is engagement. None for a bad token."""
    subscriber = sunset_keep_subscriber(token=token)
    if subscriber is None:
        return None
    now = timezone.now()
    with transaction.atomic():
        SubscriberEngagement.objects.update_or_create(
            subscriber=subscriber, defaults={"last_click_at": now, "last_engaged_at": now}
        )
        hygiene_action_record(
            email=subscriber.email, kind=Kind.SUNSET_KEPT, reason="Asked to keep receiving", subscriber_id=subscriber.pk
        )
        # Clicked after the grace period ran out: their own signed request undoes what the policy did.
        Suppression.objects.filter(email_hash=email_hash(subscriber.email), reason=Suppression.Reason.INACTIVE).delete()
    return subscriber


def reengage_message_send(*, subscriber_id: int) -> bool:
    """The "still interested?" message with its keep link; False when the subscriber is gone."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        return False
    context = {"keep_url": keep_url(subscriber_id=subscriber.pk), "grace_days": settings.SUNSET_GRACE_DAYS}
    system_email_send(subscriber=subscriber, template="analytics/email/reengage", context=context)
    return True
