"""Quiet hours: no delivery between `start` and `end` on the subscriber's own clock.

A publication's own window wins; without one, the windows of its topics apply (all of them: a
publication in two topics keeps the quiet hours of each). A delivery that would go inside a
window is deferred (`next_attempt_at`) to the window's end in that subscriber's zone (IANA,
UTC when unknown), DST included: the end is a wall-clock time on the local calendar. An alert
(high priority) passes only a window whose owner set `quiet_hours_bypass_alerts`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import F

from channels_app.models import Delivery, Send
from publishing.models import Publication
from publishing.services.timezones import zone_or_none

MAX_WINDOWS_CROSSED = 8
MAX_HOLDOUT_PERCENT = 50
QUIET_FIELDS = ("quiet_hours_start", "quiet_hours_end", "quiet_hours_bypass_alerts")
TIMING_FIELDS = (*QUIET_FIELDS, "send_time_optimized", "send_time_holdout_percent")


def quiet_hours_errors(fields: dict) -> dict[str, list[str]]:
    """A window needs both ends, and two different ones (a publication's or a topic's)."""
    start, end = fields.get("quiet_hours_start"), fields.get("quiet_hours_end")
    if (start is None) != (end is None):
        missing = "quiet_hours_end" if end is None else "quiet_hours_start"
        return {missing: ["Quiet hours need a start and an end (or neither)."]}
    if start is not None and start == end:
        return {"quiet_hours_end": ["The end must differ from the start (21:00-08:00 spans the night)."]}
    return {}


def timing_errors(fields: dict) -> dict[str, list[str]]:
    """Quiet hours and send-time settings of a publication (`fields`: its values after the change)."""
    errors = quiet_hours_errors(fields)
    holdout = fields.get("send_time_holdout_percent")
    if holdout is not None and not (isinstance(holdout, int) and 0 <= holdout <= MAX_HOLDOUT_PERCENT):
        errors["send_time_holdout_percent"] = [f"A whole percentage from 0 to {MAX_HOLDOUT_PERCENT}."]
    if fields.get("send_time_optimized") and fields.get("priority") == Publication.Priority.ALERT:
        errors["send_time_optimized"] = ["Alerts go to everyone at once; send-time optimization is for newsletters."]
    return errors


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time

    def end_date(self, local: datetime) -> date | None:
        """The local date on which the window holding `local` ends; None: `local` is outside it."""
        moment = local.time().replace(tzinfo=None)
        if self.start < self.end:
            return local.date() if self.start <= moment < self.end else None
        if moment >= self.start:  # overnight (21:00-08:00), before midnight
            return local.date() + timedelta(days=1)
        return local.date() if moment < self.end else None


def automation_quiet_windows(automation_id: int) -> list[QuietWindow]:
    """An automation's window, binding each of its message steps."""
    from publishing.automation_models import Automation

    bounds = Automation.objects.filter(pk=automation_id).values_list("quiet_hours_start", "quiet_hours_end").first()
    if not bounds or bounds[0] is None or bounds[1] is None:
        return []
    return [QuietWindow(*bounds)]


def quiet_windows_for(*, send: Send) -> list[QuietWindow]:
    """The windows that bind this send's deliveries (none for sends without a publication or an
    automation)."""
    if send.kind == Send.Kind.AUTOMATION:
        automation_id = (send.audience or {}).get("automation_id")  # step_send writes it with the send
        return automation_quiet_windows(automation_id) if automation_id else []
    publication = send.publication
    if publication is None or send.kind not in (Send.Kind.ALERT, Send.Kind.NEWSLETTER):
        return []
    owners = [publication] if publication.quiet_hours_start is not None else list(publication.topics.all())
    return [
        QuietWindow(owner.quiet_hours_start, owner.quiet_hours_end)
        for owner in owners
        if owner.quiet_hours_start is not None
        and owner.quiet_hours_end is not None
        and not (send.high_priority and owner.quiet_hours_bypass_alerts)
    ]


def quiet_until(moment: datetime, zone: ZoneInfo, windows: list[QuietWindow]) -> datetime | None:
    """When a delivery due at `moment` may go in `zone`: None when no window holds it."""
    deferred = None
    for _ in range(MAX_WINDOWS_CROSSED):  # the end of one window may fall inside another
        local = moment.astimezone(zone)
        ends = [_wall_time(day, w.end, zone) for w in windows if (day := w.end_date(local)) is not None]
        if not ends:
            break
        moment = deferred = max(ends)
    return deferred


def _wall_time(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone` as UTC; a wall time the clocks skip means the moment they land."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def quiet_hours_defer(*, delivery_ids: list[int], windows: list[QuietWindow], now: datetime) -> int:
    """Defer those of `delivery_ids` that would go inside a window; one UPDATE per (zone, due
    time), so a page of 10,000 costs a handful of statements, not one per delivery."""
    return len(quiet_hours_deferred(delivery_ids=delivery_ids, windows=windows, now=now))


def quiet_hours_deferred(*, delivery_ids: list[int], windows: list[QuietWindow], now: datetime) -> list[int]:
    """As `quiet_hours_defer`; returns the ids it deferred."""
    if not windows or not delivery_ids:
        return []
    groups: dict[tuple[str, datetime | None], list[int]] = {}
    rows = Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", F("subscriber__timezone"), "next_attempt_at")
    for pk, zone, due in rows:
        groups.setdefault((zone or "UTC", due), []).append(pk)
    deferred: list[int] = []
    for (zone, due), ids in groups.items():
        until = quiet_until(max(due or now, now), zone_or_none(zone) or ZoneInfo("UTC"), windows)
        if until is not None:
            Delivery.objects.filter(pk__in=ids).update(next_attempt_at=until)
            deferred.extend(ids)
    return deferred


def quiet_hours_reapply(*, delivery_ids: list[int], now: datetime) -> int:
    """Deliveries let out late (warm-up) are checked again against their send's windows: a
    delivery held until a new UTC day must not land in the middle of its subscriber's night."""
    by_send: dict[int, list[int]] = {}
    for pk, send_id in Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "send_id"):
        by_send.setdefault(send_id, []).append(pk)
    sends = Send.objects.select_related("publication").defer("content").in_bulk(list(by_send))
    return sum(
        quiet_hours_defer(delivery_ids=ids, windows=quiet_windows_for(send=sends[send_id]), now=now)
        for send_id, ids in by_send.items()
    )
