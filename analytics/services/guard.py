"""The deliverability guard: bounce and complaint rates that pause sends (defaults modelled on
SES's account thresholds: 5% bounces, 0.1% complaints).

Per send, checked as soon as feedback about it is applied: hard bounces and complaints over
the messages handed to the provider. Per channel, checked after each rollup over a rolling
GUARD_CHANNEL_WINDOW_DAYS. Rates count only once GUARD_MIN_SAMPLE messages went out, so one
bounce among three messages pauses nothing. A trip pauses the send(s) with the reason (shown in
admin, where an editor can resume), is recorded as a GuardTrip, and alerts GUARD_ALERT_CHANNEL
(through that channel's real adapter) and GUARD_ALERT_EMAILS. A send trips each metric once:
resuming it is an informed decision the guard does not overrule.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from analytics.models import DailyRollup, EngagementEvent, GuardTrip
from channels_app.adapters import receipt_kinds
from channels_app.models import Channel, Delivery, Send
from channels_app.services.alerts import operator_alert
from channels_app.services.sends import send_pause
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)
Metric = GuardTrip.Metric


@dataclass(frozen=True)
class Crossing:
    """One threshold crossed: what a GuardTrip records of it."""

    metric: str
    events: int
    sample: int
    rate: float
    threshold: float

    @property
    def label(self) -> str:
        return "hard bounce" if self.metric == Metric.BOUNCE else "complaint"

    def measured(self) -> str:
        return f"{self.label} rate {self.rate:.2%}"

    def against(self) -> str:
        return f"({self.events} of {self.sample} messages) crossed the {self.threshold:.2%} limit"


@dataclass(frozen=True)
class Rates:
    sample: int
    hard_bounces: int
    complaints: int

    def crossed(self, *, min_sample: int | None = None) -> list[Crossing]:
        """Each threshold crossed."""
        if self.sample < (settings.GUARD_MIN_SAMPLE if min_sample is None else min_sample):
            return []
        checks = [
            (Metric.BOUNCE, self.hard_bounces, settings.GUARD_BOUNCE_RATE),
            (Metric.COMPLAINT, self.complaints, settings.GUARD_COMPLAINT_RATE),
        ]
        return [
            Crossing(m, n, self.sample, n / self.sample, limit) for m, n, limit in checks if n / self.sample > limit
        ]


def send_rates(*, send_id: int) -> Rates:
    sample = Delivery.objects.filter(send_id=send_id, sent_at__isnull=False).count()
    counts = EngagementEvent.objects.filter(delivery__send_id=send_id).aggregate(
        hard=Count("delivery_id", distinct=True, filter=Q(kind="bounce", metadata__bounce_type="hard")),
        complaints=Count("delivery_id", distinct=True, filter=Q(kind="complaint")),
    )
    return Rates(sample, counts["hard"], counts["complaints"])


def channel_rates(*, channel_id: int) -> Rates:
    since = timezone.now().date() - timedelta(days=settings.GUARD_CHANNEL_WINDOW_DAYS - 1)
    totals = DailyRollup.objects.filter(channel_id=channel_id, day__gte=since).aggregate(
        sent=Sum("sent"), hard=Sum("hard_bounces"), complaints=Sum("complaints")
    )
    return Rates(totals["sent"] or 0, totals["hard"] or 0, totals["complaints"] or 0)


def guard_sends_check(*, send_ids: list[int]) -> list[GuardTrip]:
    """Pause each sending send whose own rates crossed a threshold; else hold the streams of
    the mailbox providers whose rates on it did (guard_providers)."""
    from analytics.services.guard_providers import guard_send_providers_check

    trips = []
    for send in Send.objects.filter(pk__in=send_ids, status=Send.Status.SENDING):
        rates = send_rates(send_id=send.pk)
        crossed = rates.crossed()
        for crossing in crossed:
            trip = _trip(GuardTrip.Scope.SEND, crossing, send=send)
            if trip:
                trips.append(trip)
                break  # paused: one reason is enough
        # Per provider only while the send as a whole is under the limits (over them, it pauses,
        # or was paused and resumed by an editor's informed decision); nothing to find without events.
        if not crossed and (rates.hard_bounces or rates.complaints):
            trips += guard_send_providers_check(send=send)
    return trips


def guard_channels_check() -> list[GuardTrip]:
    """Each channel over its rolling window; a trip pauses every sending send with work queued on it."""
    trips = []
    since = timezone.now() - timedelta(days=settings.GUARD_CHANNEL_WINDOW_DAYS)
    for channel in Channel.objects.filter(kind__in=receipt_kinds()):  # bounce and complaint rates need receipts
        rates = channel_rates(channel_id=channel.pk)
        for crossing in rates.crossed():
            if GuardTrip.objects.filter(
                channel=channel, metric=crossing.metric, scope="channel", created_at__gte=since
            ).exists():
                continue
            trip = _trip(GuardTrip.Scope.CHANNEL, crossing, channel=channel)
            if trip:
                trips.append(trip)
    return trips


def _trip(scope: str, crossing: Crossing, *, send=None, channel=None):
    what = f"send #{send.pk}" if send else f"channel {channel.name} (last {settings.GUARD_CHANNEL_WINDOW_DAYS} days)"
    reason = (
        f"Deliverability guard: {crossing.measured()} on {what} {crossing.against()}. "
        "Check the list and the content, then resume."
    )
    trip = guard_trip_record(crossing, scope=scope, send=send, channel=channel, reason=reason)
    if trip is None:
        return None  # this send already tripped on this metric
    targets = [send] if send else _sending_on(channel)
    paused = []
    for target in targets:
        try:
            send_pause(send=target, reason=reason)
            paused.append(target.pk)
        except ApplicationError:
            pass  # it finished or was paused meanwhile
    trip.paused_send_ids = paused
    trip.alerted = guard_alert(trip=trip)
    trip.save(update_fields=["paused_send_ids", "alerted"])
    logger.warning("%s (paused sends %s)", reason, paused)
    return trip


def guard_trip_record(crossing: Crossing, *, then: Callable[[], None] | None = None, **where: Any) -> GuardTrip | None:
    """Record a trip once: a unique constraint per send (or channel window, or provider of a
    send) and metric makes a second crossing record nothing (None). `where` is its scope, its
    send, channel or provider, and its reason. `then` runs in the same transaction, so what the
    trip does (a provider hold) happens exactly when it is recorded."""
    measured = asdict(crossing)
    try:
        with transaction.atomic():
            trip = GuardTrip.objects.create(**measured, **where)
            if then is not None:
                then()
    except IntegrityError:
        return None
    return trip


def _sending_on(channel: Channel) -> list[Send]:
    queued = Delivery.objects.filter(channel=channel, state=Delivery.State.QUEUED).values("send_id")
    return list(Send.objects.filter(status=Send.Status.SENDING, pk__in=queued))


def guard_alert(*, trip: GuardTrip) -> str:
    """Tell people (channels_app.services.alerts). Returns where it went."""
    text = trip.reason
    if trip.paused_send_ids:
        text += f" Paused sends: {', '.join(f'#{pk}' for pk in trip.paused_send_ids)}."
    return operator_alert(
        subject="Bulletin paused a send: deliverability guard", text=text, event_type="bulletin.guard"
    )
