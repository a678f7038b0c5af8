"""GDPR: everything we hold on one subscriber (Art. 15/20), and erasure (Art. 17).

Erasure removes personal data but keeps the sha256 of the address in the suppression list,
so the address is never mailed again, and keeps the anonymous deliveries and events, so
aggregate counts (sent, opened, bounced) stay right.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import transaction
from django.utils import timezone

from analytics.models import EngagementEvent
from channels_app.models import Delivery
from channels_app.services.events import outbound_events_scrub
from subscribers.models import ImportJob, Subscriber, Suppression, email_hash

logger = logging.getLogger(__name__)


def subscriber_export(*, subscriber: Subscriber) -> dict[str, Any]:
    """A JSON-ready document (datetimes left for DjangoJSONEncoder) of all we hold on them."""
    suppression = Suppression.objects.filter(email_hash=email_hash(subscriber.email)).values(
        "reason", "note", "created_at"
    )
    return {
        "exported_at": timezone.now(),
        "profile": {field.attname: getattr(subscriber, field.attname) for field in Subscriber._meta.concrete_fields},
        "subscriptions": list(
            subscriber.subscriptions.order_by("topic__slug", "channel_kind").values(
                "topic__slug", "topic__name", "channel_kind", "frequency", "created_at", "updated_at"
            )
        ),
        "consent_records": list(
            subscriber.consent_records.order_by("created_at").values(
                "action", "method", "source", "ip_address", "user_agent", "wording", "created_at"
            )
        ),
        "suppression": suppression.first(),
        "deliveries": list(
            Delivery.objects.filter(subscriber=subscriber)
            .order_by("created_at")
            .values("id", "send__subject", "channel__kind", "recipient", "state", "attempts", "created_at", "sent_at")
        ),
        "engagement_events": list(
            EngagementEvent.objects.filter(delivery__subscriber=subscriber)
            .order_by("occurred_at")
            .values("delivery_id", "kind", "occurred_at", "is_machine", "metadata")
        ),
    }


@transaction.atomic
def subscriber_erase(*, subscriber: Subscriber, actor=None) -> int:
    """Delete the subscriber (subscriptions and consent records go with it), blank the recipient
    of their deliveries (which keep counting, with no subscriber) and suppress the address by
    hash only. Returns how many deliveries were anonymised."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    note = f"Erased subscriber #{subscriber.pk} on request ({timezone.now():%Y-%m-%d}, by {actor or 'system'})."
    Suppression.objects.update_or_create(
        email_hash=email_hash(subscriber.email),
        defaults={"email": "", "reason": Suppression.Reason.ERASED, "note": note, "created_by": actor},
    )
    anonymised = Delivery.objects.filter(subscriber=subscriber).update(recipient="")
    _import_reports_scrub(subscriber.email)
    subscriber_id = subscriber.pk
    from publishing.services.automations.enroll import automations_leave

    automations_leave(subscriber_ids=[subscriber_id], reason="erased")  # then the rows go with the subscriber
    outbound_events_scrub(subscriber_id=subscriber_id)
    subscriber.delete()
    logger.info("subscriber %s erased by %s; %s deliveries anonymised", subscriber_id, actor or "system", anonymised)
    return anonymised


def _import_reports_scrub(email: str) -> None:
    """Import row reports may name the address (a duplicate or skipped row): blank it there too."""
    pattern = re.compile(re.escape(email), re.IGNORECASE)
    for job in ImportJob.objects.filter(error_report__icontains=email).only("pk", "error_report"):
        job.error_report = pattern.sub("[erased]", job.error_report)
        job.save(update_fields=["error_report"])
