"""Times as editors enter and read them: in their own time zone (EditorProfile, default
settings.TIME_ZONE), with the UTC instant and the audience's local times beside it.

A local time that does not exist (clocks jump forward) or happens twice (clocks go back) is
refused with a message saying so, never guessed."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.conf import settings
from django.db import transaction

from core.exceptions import ApplicationError
from publishing.models import EditorProfile


def zone_or_none(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name and name in zone_names() else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def zone_names() -> set[str]:
    return available_timezones() | {"UTC"}


def editor_time_zone(user) -> ZoneInfo:
    """The user's chosen zone, else the site's (settings.TIME_ZONE)."""
    name = ""
    if getattr(user, "pk", None):
        name = EditorProfile.objects.filter(user_id=user.pk).values_list("time_zone", flat=True).first() or ""
    return zone_or_none(name) or ZoneInfo(settings.TIME_ZONE)


@transaction.atomic
def editor_time_zone_set(*, user, time_zone: str) -> EditorProfile:
    """Any staff user sets their own zone (nobody else's: the caller passes request.user)."""
    if zone_or_none(time_zone) is None:
        raise ApplicationError.for_fields({"time_zone": f"Unknown time zone “{time_zone[:64]}”: use an IANA name."})
    profile, _ = EditorProfile.objects.update_or_create(user_id=user.pk, defaults={"time_zone": time_zone})
    return profile


def local_to_utc(value: datetime, zone: ZoneInfo) -> datetime:
    """The instant a naive wall-clock time in `zone` names; ApplicationError (field publish_at)
    when that wall time is skipped or repeated there by a DST change."""
    if value.tzinfo is not None:
        return value
    early, late = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    shown = f"{value:%Y-%m-%d %H:%M}"
    if _round_trip(early) != value.replace(tzinfo=None):
        problem = f"{shown} does not exist in {zone.key}: the clocks jump forward then. Choose another time."
    elif early.utcoffset() != late.utcoffset():
        problem = (
            f"{shown} happens twice in {zone.key} (the clocks go back): it could be {_utc(early)} or "
            f"{_utc(late)}. Choose a time outside that hour."
        )
    else:
        return early.astimezone(ZoneInfo("UTC"))
    raise ApplicationError.for_fields({"publish_at": problem}, message=problem)


def _round_trip(aware: datetime) -> datetime:
    return aware.astimezone(ZoneInfo("UTC")).astimezone(aware.tzinfo).replace(tzinfo=None)


def _utc(aware: datetime) -> str:
    return f"{aware.astimezone(ZoneInfo('UTC')):%H:%M} UTC"


def local_times(*, at: datetime, zones: list[tuple[str, int]]) -> list[dict]:
    """`at` as each (zone name, subscriber count) sees it: rows for the publish page."""
    rows = []
    for name, count in zones:
        zone = zone_or_none(name) or ZoneInfo("UTC")
        local = at.astimezone(zone)
        rows.append(
            {
                "zone": name,
                "subscribers": count,
                "text": f"{local:%a %Y-%m-%d %H:%M}",
                "offset": _offset(local.utcoffset()),
            }
        )
    return rows


def _offset(delta: timedelta | None) -> str:
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def audience_time_zones(*, publication, limit: int = 5) -> list[tuple[str, int]]:
    """The most common time zones of the people publishing it now would reach personally
    (instant subscribers of its topics on every personal kind, in its segment), most first."""
    from django.db.models import Count, Q

    from channels_app.adapters import personal_kinds
    from publishing.selectors import audience_recipients, publication_segments
    from subscribers.models import Subscriber

    spec = publication_segments(publication=publication)
    topic_ids = list(publication.topics.values_list("pk", flat=True))
    reached = Q(pk__in=[])
    for kind in personal_kinds():
        rows = audience_recipients(
            kind=kind,
            topic_ids=topic_ids,
            frequencies=["instant"],
            segment=spec.get("segment"),
            exclude_segment=spec.get("exclude_segment"),
        )
        reached |= Q(pk__in=rows.order_by().values("pk"))
    counted = (
        Subscriber.objects.filter(reached).values("timezone").annotate(n=Count("pk")).order_by("-n", "timezone")[:limit]
    )
    return [(row["timezone"], row["n"]) for row in counted]
