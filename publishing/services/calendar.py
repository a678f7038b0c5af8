"""A month of scheduled (and already published) sends, by local day in the editor's time zone."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from core.exceptions import ApplicationError
from publishing.models import Publication

State = Publication.State


@dataclass
class CalendarDay:
    day: date
    in_month: bool
    items: list[dict] = field(default_factory=list)


def _offset_changes(day: date, zone: ZoneInfo) -> bool:
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start.utcoffset() != end.utcoffset()


def parse_month(raw: str | None, *, today: date) -> date:
    """`YYYY-MM` to the first of that month (today's month when absent); ApplicationError if bad."""
    if not raw:
        return today.replace(day=1)
    try:
        year, month = (int(part) for part in raw.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise ApplicationError.for_fields({"month": f"“{raw[:20]}” is not a month: use YYYY-MM."}) from None


def publication_calendar(*, month: date, zone: ZoneInfo) -> list[list[CalendarDay]]:
    """Weeks (Monday first) covering `month`; each day lists what is scheduled for it (publish_at)
    or was published on it (published_at), in the zone's local days, earliest first."""
    weeks = calendar.Calendar().monthdatescalendar(month.year, month.month)
    first, last = weeks[0][0], weeks[-1][-1] + timedelta(days=1)
    start, end = (datetime.combine(d, time(), tzinfo=zone) for d in (first, last))
    rows = Publication.objects.filter(
        Q(state=State.SCHEDULED, publish_at__gte=start, publish_at__lt=end)
        | Q(state__in=[State.PUBLISHED, State.ARCHIVED], published_at__gte=start, published_at__lt=end)
    ).only("pk", "title", "state", "priority", "publish_at", "published_at")
    days = {d: CalendarDay(day=d, in_month=d.month == month.month) for week in weeks for d in week}
    for publication in rows:
        scheduled = publication.state == State.SCHEDULED
        at = (publication.publish_at if scheduled else publication.published_at).astimezone(zone)
        days[at.date()].items.append({"publication": publication, "at": at, "scheduled": scheduled})
    for day in days.values():
        # By the instant: two times in one zone compare by wall clock, and the hour a DST change
        # repeats holds two different instants with the same wall time.
        day.items.sort(key=lambda item: (item["at"].astimezone(UTC), item["publication"].pk))
        # On the day of a DST change a time says its offset's name (02:30 CEST, then 02:30 CET).
        changes = _offset_changes(day.day, zone)
        for item in day.items:
            item["time"] = f"{item['at']:%H:%M %Z}" if changes else f"{item['at']:%H:%M}"
    return [[days[d] for d in week] for week in weeks]
