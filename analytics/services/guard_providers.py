"""The deliverability guard per mailbox provider: when one provider's hard bounce or complaint
rate on a send crosses the guard's thresholds (once GUARD_PROVIDER_MIN_SAMPLE of the send's
messages went to it), only that provider's stream is held (channels_app ProviderHold): its
deliveries stay queued while the rest of the send flows. An editor releases the hold in admin.
Checked with the send's own rates (guard.guard_sends_check), so a send whose overall rate
crosses pauses as a whole instead.
"""

from __future__ import annotations

import logging

from django.conf import settings

from analytics.models import GuardTrip
from analytics.provider_selectors import provider_rates
from channels_app.models import Delivery, MailboxProvider, Send
from channels_app.services.mailbox_providers import provider_hold

logger = logging.getLogger(__name__)


def guard_send_providers_check(*, send: Send) -> list[GuardTrip]:
    from analytics.services.guard import Rates, guard_alert

    trips = []
    for provider, counts in provider_rates(Delivery.objects.filter(send_id=send.pk)).items():
        rates = Rates(counts["sent"], counts["hard_bounces"], counts["complaints"])
        crossed = rates.crossed(min_sample=settings.GUARD_PROVIDER_MIN_SAMPLE)
        if not crossed:
            continue
        trip = _trip(send, provider, crossed[0])
        if trip is not None:
            trip.alerted = guard_alert(trip=trip)
            trip.save(update_fields=["alerted"])
            trips.append(trip)
    return trips


def _trip(send: Send, provider: str, crossing):
    from analytics.services.guard import guard_trip_record

    label = MailboxProvider(provider).label
    reason = (
        f"Deliverability guard: {crossing.measured()} to {label} on send #{send.pk} {crossing.against()}. "
        f"Deliveries to {label} are held; the rest of the send goes on. Check the list and the content, "
        "then release the hold."
    )
    trip = guard_trip_record(
        crossing,
        scope=GuardTrip.Scope.PROVIDER,
        send=send,
        mailbox_provider=provider,
        reason=reason,
        then=lambda: provider_hold(send=send, provider=provider, reason=reason),
    )
    if trip is None:
        return None  # this provider of this send already tripped on this metric
    logger.warning("%s", reason)
    return trip
