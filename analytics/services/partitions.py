"""Monthly partitions of deliveries and events (PostgreSQL): months created ahead, old months
dropped whole once their counts are in the rollups. Design: docs/partitioning.md."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.db import connection

from analytics.models import DeliveryEngagement, HygieneAction, RollupDirtyCell
from channels_app.models import Send
from channels_app.partitions import DELIVERIES
from core.clock import clock
from core.partitioning import (
    MonthlyTable,
    add_months,
    is_partitioned,
    month_start,
    partition_drop,
    partitions_ensure,
    partitions_expired,
)

logger = logging.getLogger(__name__)

EVENTS = MonthlyTable(
    table="analytics_engagementevent",
    key="occurred_at",
    key_from_row="{row}.occurred_at",
    unique_name="event_dedupe_unique",
    first_month_sql="SELECT min(occurred_at) FROM analytics_engagementevent",
)

# Rollup runs a delivery retention waits for at most before it leaves a month for next time.
SETTLE_RUNS = 20


def partitions_maintain() -> dict:
    """Beat (daily): the coming months' partitions, then the retention of deliveries."""
    if connection.vendor != "postgresql":
        return {}
    through = add_months(month_start(clock.now().date()), settings.PARTITION_MONTHS_AHEAD)
    created = partitions_ensure(DELIVERIES, through=through) + partitions_ensure(EVENTS, through=through)
    return {"created": created, "dropped": deliveries_retention_apply()}


def deliveries_retention_apply() -> list[str]:
    """Drop the delivery months past DELIVERY_RETENTION_MONTHS whose counts are rolled up and
    whose sends are finished; returns the partitions dropped."""
    months = settings.DELIVERY_RETENTION_MONTHS
    if months <= 0 or not is_partitioned(DELIVERIES.table):
        return []
    keep_from = add_months(month_start(clock.now().date()), 1 - months)
    dropped = []
    for month, name in partitions_expired(DELIVERIES, keep_from=keep_from):
        if not _month_settled(month, name):
            logger.warning("delivery partition %s kept for now: its sends are not finished or rolled up", name)
            continue
        bounds = _id_range(name)
        partition_drop(DELIVERIES, name)
        _orphans_remove(bounds)
        dropped.append(name)
    return dropped


def _month_settled(month: date, name: str) -> bool:
    """Every send of the month finished, nothing of its deliveries still moving, and every
    rollup cell of its sends computed."""
    from analytics.services.rollups import deliveries_scan, rollups_update

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {name} WHERE state IN ('queued', 'sending') LIMIT 1")  # noqa: S608
        if cursor.fetchone():
            return False
    sends = Send.objects.filter(created_at__date__gte=month, created_at__date__lt=add_months(month, 1))
    # An open-ended send (an automation step's) keeps adding deliveries to its month's partition.
    if sends.exclude(status__in=[Send.Status.COMPLETED, Send.Status.CANCELLED]).exists():
        return False
    deliveries_scan()  # cells of deliveries handed over since the last rollup run
    for _ in range(SETTLE_RUNS):
        if not RollupDirtyCell.objects.filter(send_id__in=sends.values("pk")).exists():
            return True
        rollups_update()
    return False


def _id_range(name: str) -> tuple[int, int] | None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {name}")  # noqa: S608
        low, high = cursor.fetchone()
    return None if low is None else (low, high)


def _orphans_remove(bounds: tuple[int, int] | None) -> None:
    """What pointed at the dropped deliveries (no database foreign keys to cascade): first
    opens and clicks (already counted in the rollups) go, hygiene actions keep their record."""
    if bounds is None:
        return
    low, high = bounds
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {DeliveryEngagement._meta.db_table} e WHERE e.delivery_id BETWEEN %s AND %s "  # noqa: S608
            f"AND NOT EXISTS (SELECT 1 FROM {DELIVERIES.table} d WHERE d.id = e.delivery_id)",
            [low, high],
        )
        cursor.execute(
            f"UPDATE {HygieneAction._meta.db_table} h SET delivery_id = NULL "  # noqa: S608
            f"WHERE h.delivery_id BETWEEN %s AND %s "
            f"AND NOT EXISTS (SELECT 1 FROM {DELIVERIES.table} d WHERE d.id = h.delivery_id)",
            [low, high],
        )


def events_partitions_drop() -> list[str] | None:
    """Retention of events on a partitioned table: drop every month entirely older than the
    retention (rollups of those days are final: rollups_update no longer recomputes them).
    None where events are not partitioned (the caller deletes rows)."""
    if not is_partitioned(EVENTS.table):
        return None
    cutoff = clock.now() - timedelta(days=settings.ANALYTICS_EVENT_RETENTION_DAYS)
    dropped = []
    for _month, name in partitions_expired(EVENTS, keep_from=month_start(cutoff.date())):
        partition_drop(EVENTS, name)
        dropped.append(name)
    return dropped
