"""The next local time of day in a subscriber's zone: the test run's rule, and the advance's on
SQLite (no time zone database in SQL there; PostgreSQL computes the same in SQL)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def next_local_time(now: datetime, zone_name: str, local: str) -> datetime:
    """The next `HH:MM` in the zone after `now` (unknown zones: UTC)."""
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    hour, minute = (int(part) for part in local.split(":")[:2])
    today = now.astimezone(zone).date()
    for days in (0, 1, 2):
        candidate = datetime.combine(today + timedelta(days=days), time(hour, minute), tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("unreachable")
