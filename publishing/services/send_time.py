"""Send-time optimization: a newsletter reaches each subscriber at their best hour within 24 h.

The best hour is the local hour (the subscriber's own zone) of most of their human opens and
clicks in the last SEND_TIME_LOOKBACK_DAYS (analytics EngagementEvent, machine opens left out);
without any, the best hour of their cohort (subscribers in the same zone), then of everyone,
then SEND_TIME_DEFAULT_HOUR. A random SEND_TIME holdout (the publication's percentage) gets the
send at once. Each delivery's group, hour and due time is recorded (SendTimeAssignment), so the
lift (optimized vs holdout opens and clicks) is computed from the same rows after the send.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F
from django.db.models.functions import ExtractHour

from analytics.models import EngagementEvent
from channels_app.models import Delivery, Send
from publishing.models import Publication, SendTimeAssignment
from publishing.send_time_models import SendTimeGroup, SendTimeSource
from publishing.services.timezones import zone_or_none

HUMAN_KINDS = (EngagementEvent.Kind.OPEN, EngagementEvent.Kind.CLICK)


def send_time_applies(*, send: Send) -> bool:
    publication = send.publication
    return bool(publication and publication.send_time_optimized and send.kind == Send.Kind.NEWSLETTER)


class LearnedHours:
    """Best local hours, learned once per materialization: cohorts and the audience are asked
    for once, subscribers a page at a time."""

    def __init__(self, now: datetime):
        self.now = now
        self.since = now - timedelta(days=settings.SEND_TIME_LOOKBACK_DAYS)
        self._cohorts: dict[str, int | None] = {}
        self._audience: int | None | bool = False  # False: not asked yet

    def _events(self):
        return EngagementEvent.objects.filter(kind__in=HUMAN_KINDS, is_machine=False, occurred_at__gte=self.since)

    def of_subscribers(self, zone: str, subscriber_ids: list[int]) -> dict[int, int]:
        counts = (
            self._events()
            .filter(delivery__subscriber_id__in=subscriber_ids)
            .annotate(hour=ExtractHour("occurred_at", tzinfo=_zone(zone)))
            .values_list("delivery__subscriber_id", "hour")
            .annotate(n=Count("pk"))
        )
        best: dict[int, tuple[int, int]] = {}
        for subscriber_id, hour, n in counts:
            if (n, -hour) > best.get(subscriber_id, (0, 0)):
                best[subscriber_id] = (n, -hour)
        return {subscriber_id: -minus_hour for subscriber_id, (_, minus_hour) in best.items()}

    def of_cohort(self, zone: str) -> int | None:
        if zone not in self._cohorts:
            counts = (
                self._events()
                .filter(delivery__subscriber__timezone=zone)
                .annotate(hour=ExtractHour("occurred_at", tzinfo=_zone(zone)))
                .values_list("hour")
                .annotate(n=Count("pk"))
            )
            self._cohorts[zone] = _mode(Counter(dict(counts)))
        return self._cohorts[zone]

    def of_audience(self) -> int | None:
        """Everyone's hours, each on their own clock (zone offsets as of now: a fallback)."""
        if self._audience is False:
            counts = (
                self._events()
                .annotate(hour=ExtractHour("occurred_at", tzinfo=UTC), zone=F("delivery__subscriber__timezone"))
                .values_list("zone", "hour")
                .annotate(n=Count("pk"))
            )
            local: Counter[int] = Counter()
            for zone, hour, n in counts:
                offset = self.now.astimezone(_zone(zone)).utcoffset() or timedelta(0)
                local[(hour + int(offset.total_seconds() // 3600)) % 24] += n
            self._audience = _mode(local)
        return self._audience


def _mode(counts: Counter) -> int | None:
    return min(counts, key=lambda hour: (-counts[hour], hour)) if counts else None


def _zone(name: str | None) -> ZoneInfo:
    return zone_or_none(name or "") or ZoneInfo("UTC")


def next_local_hour(now: datetime, zone: ZoneInfo, hour: int) -> datetime:
    """The start of the next `hour` o'clock on the subscriber's clock (now, if it is that hour)."""
    local = now.astimezone(zone)
    if local.hour == hour:
        return now
    day = local.date() if local.hour < hour else local.date() + timedelta(days=1)
    at = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
    return at if at > now else at + timedelta(days=1)


def send_time_assign(
    *, send: Send, delivery_ids: list[int], holdout_percent: int, learned: LearnedHours, rng=random
) -> int:
    """Put each delivery in the holdout or at its best hour; returns how many were deferred."""
    rows = list(
        Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "subscriber_id", F("subscriber__timezone"))
    )
    by_zone: dict[str, list[int]] = {}
    for _, subscriber_id, zone in rows:
        by_zone.setdefault(zone or "UTC", []).append(subscriber_id)
    own = {sid: hour for zone, ids in by_zone.items() for sid, hour in learned.of_subscribers(zone, ids).items()}
    now, assignments, due = learned.now, [], {}
    for pk, subscriber_id, zone in rows:
        zone = zone or "UTC"
        if rng.random() * 100 < holdout_percent:
            assignments.append(
                SendTimeAssignment(delivery_id=pk, send=send, group=SendTimeGroup.HOLDOUT, scheduled_for=now)
            )
            continue
        hour, source = _best_hour(own.get(subscriber_id), zone, learned)
        at = next_local_hour(now, _zone(zone), hour)
        assignments.append(
            SendTimeAssignment(
                delivery_id=pk, send=send, group=SendTimeGroup.OPTIMIZED, hour=hour, source=source, scheduled_for=at
            )
        )
        if at > now:
            due.setdefault(at, []).append(pk)
    SendTimeAssignment.objects.bulk_create(assignments, ignore_conflicts=True)
    for at, ids in due.items():  # one UPDATE per distinct due time (zones x hours), not per row
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=at)
    return sum(len(ids) for ids in due.values())


def _best_hour(own: int | None, zone: str, learned: LearnedHours) -> tuple[int, str]:
    if own is not None:
        return own, SendTimeSource.SUBSCRIBER
    if (cohort := learned.of_cohort(zone)) is not None:
        return cohort, SendTimeSource.COHORT
    if (audience := learned.of_audience()) is not None:
        return audience, SendTimeSource.AUDIENCE
    return settings.SEND_TIME_DEFAULT_HOUR, SendTimeSource.DEFAULT


def send_time_lift(*, publication: Publication) -> dict | None:
    """Opens and clicks (human) of the optimized group against the holdout; None when the
    publication was not sent with send-time optimization."""
    assignments = SendTimeAssignment.objects.filter(send__publication=publication)
    groups = {}
    for group in SendTimeGroup.values:
        ids = assignments.filter(group=group).values("delivery_id")
        events = EngagementEvent.objects.filter(delivery_id__in=ids, is_machine=False)
        size = assignments.filter(group=group).count()
        opened = events.filter(kind__in=HUMAN_KINDS).values("delivery_id").distinct().count()
        clicked = events.filter(kind=EngagementEvent.Kind.CLICK).values("delivery_id").distinct().count()
        groups[group] = {
            "deliveries": size,
            "opened": opened,
            "clicked": clicked,
            "open_rate": opened / size if size else None,
            "click_rate": clicked / size if size else None,
        }
    if not any(g["deliveries"] for g in groups.values()):
        return None
    optimized, holdout = groups[SendTimeGroup.OPTIMIZED], groups[SendTimeGroup.HOLDOUT]
    return {
        **groups,
        "open_lift": _lift(optimized["open_rate"], holdout["open_rate"]),
        "click_lift": _lift(optimized["click_rate"], holdout["click_rate"]),
        "finished": not publication.sends.filter(status=Send.Status.SENDING).exists(),
    }


def _lift(treated: float | None, control: float | None) -> float | None:
    """Relative lift (0.25: 25% more); None while either side is unknown or the control is 0."""
    if treated is None or not control:
        return None
    return round(treated / control - 1, 4)
