"""Unsubscribing: from one topic (a topic's message) or from everything (a footer, the preference centre)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression, Topic, email_hash
from subscribers.services.consent import ConsentContext, consent_record_create
from subscribers.services.suppression import suppression_add


@transaction.atomic
def subscriber_unsubscribe(*, subscriber: Subscriber, context: ConsentContext, topic: Topic | None = None) -> bool:
    """Idempotent: True when something changed, False when it was already done.

    Global: status unsubscribed and a Suppression (reason unsubscribed), so no audience selects
    the address again until they opt in anew. Per topic: every channel of that topic set to off.
    """
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if topic is not None:
        changed = (
            Subscription.objects.filter(subscriber=subscriber, topic=topic)
            .exclude(frequency=Subscription.Frequency.OFF)
            .update(frequency=Subscription.Frequency.OFF, updated_at=timezone.now())
        )
        wording = f"Unsubscribe from {topic.name}"
    else:
        mailable = subscriber.status in (Subscriber.Status.PENDING, Subscriber.Status.ACTIVE)
        changed = mailable or not Suppression.objects.filter(email_hash=email_hash(subscriber.email)).exists()
        if changed:
            suppression_add(email=subscriber.email, reason=Suppression.Reason.UNSUBSCRIBED, actor=context.actor)
        if mailable:  # also when a stronger suppression (manual) already existed
            subscriber.status, subscriber.unsubscribed_at = Subscriber.Status.UNSUBSCRIBED, timezone.now()
            subscriber.save(update_fields=["status", "unsubscribed_at", "updated_at"])
        wording = "Unsubscribe from everything"
    if changed:
        consent_record_create(
            subscriber=subscriber,
            action=ConsentRecord.Action.UNSUBSCRIBED,
            context=context,
            wording=wording,
            source=f"topic:{topic.slug}" if topic else "",
        )
    return bool(changed)
