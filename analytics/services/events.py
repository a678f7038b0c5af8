"""Writing engagement events in bulk, with what depends on them, in the caller's transaction.

Every writer (tracking drain, SES feedback, unsubscribe attribution) goes through
`events_record`, which is idempotent: events are inserted ON CONFLICT (dedupe_key) DO
NOTHING, the engagement summaries only move first-times earlier and last-times later
(min/max), and rollup cells are marked dirty (recomputing a cell twice changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.db import connection
from django.utils import timezone

from analytics.models import DeliveryEngagement, EngagementEvent, RollupDirtyCell, SubscriberEngagement


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    send_id: int
    channel_id: int
    subscriber_id: int | None
    sent_at: datetime | None = None
    tracking_enabled: bool = True


def events_record(*, events: Sequence[EngagementEvent], deliveries: Mapping[int, DeliveryInfo]) -> None:
    """Insert events (duplicates by dedupe_key skipped) and update what depends on them."""
    if not events:
        return
    EngagementEvent.objects.bulk_create(events, ignore_conflicts=True, batch_size=1000)
    human = [
        e for e in events if not e.is_machine and e.kind in (EngagementEvent.Kind.OPEN, EngagementEvent.Kind.CLICK)
    ]
    old_days = _engagement_record(human, deliveries)
    cells = {
        (e.occurred_at.date(), deliveries[e.delivery_id].send_id, deliveries[e.delivery_id].channel_id) for e in events
    }
    rollup_cells_touch(cells=cells | old_days)


def rollup_cells_touch(*, cells: Iterable[tuple[date, int, int]]) -> None:
    """Mark (day, send, channel) cells for the rollup task; sorted so concurrent writers never deadlock."""
    now = timezone.now()
    rows = [RollupDirtyCell(day=d, send_id=s, channel_id=c, touched_at=now) for d, s, c in sorted(set(cells))]
    if rows:
        RollupDirtyCell.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["day", "send_id", "channel_id"], update_fields=["touched_at"]
        )


def _engagement_record(human: list[EngagementEvent], deliveries: Mapping[int, DeliveryInfo]) -> set:
    """First open/click per delivery, last per subscriber. Returns the rollup cells of first
    opens/clicks that moved earlier (their old day loses a unique)."""
    if not human:
        return set()
    first: dict[int, dict[str, datetime]] = {}
    last: dict[int, dict[str, datetime]] = {}
    for event in human:
        column = "open" if event.kind == EngagementEvent.Kind.OPEN else "click"
        slot = first.setdefault(event.delivery_id, {})
        slot[column] = min(slot.get(column, event.occurred_at), event.occurred_at)
        subscriber_id = deliveries[event.delivery_id].subscriber_id
        if subscriber_id is not None:
            slot = last.setdefault(subscriber_id, {})
            slot[column] = max(slot.get(column, event.occurred_at), event.occurred_at)
    moved = set()
    for existing in DeliveryEngagement.objects.filter(pk__in=list(first)):
        info = deliveries[existing.delivery_id]
        for column, old in (("open", existing.first_open_at), ("click", existing.first_click_at)):
            new = first[existing.delivery_id].get(column)
            if old is not None and new is not None and new < old:
                moved.add((old.date(), info.send_id, info.channel_id))
    _upsert(
        DeliveryEngagement,
        "delivery_id",
        {k: (v.get("open"), v.get("click")) for k, v in first.items()},
        ("first_open_at", "first_click_at"),
        earliest=True,
    )
    _upsert(
        SubscriberEngagement,
        "subscriber_id",
        {k: (v.get("open"), v.get("click"), max(v.values())) for k, v in last.items()},
        ("last_open_at", "last_click_at", "last_engaged_at"),
        earliest=False,
    )
    return moved


def _upsert(model, key: str, rows: dict[int, tuple], columns: Sequence[str], *, earliest: bool) -> None:
    """INSERT ... ON CONFLICT DO UPDATE keeping the earliest (or latest) non-null value per column."""
    if not rows:
        return
    table = model._meta.db_table
    postgres = connection.vendor == "postgresql"
    func = ("LEAST" if earliest else "GREATEST") if postgres else ("MIN" if earliest else "MAX")
    sets = ", ".join(
        f"{c} = {func}(COALESCE({table}.{c}, EXCLUDED.{c}), COALESCE(EXCLUDED.{c}, {table}.{c}))" for c in columns
    )
    placeholders = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    adapt = connection.ops.adapt_datetimefield_value
    params: list = []
    for pk in sorted(rows):
        params += [pk, *(adapt(v) if v is not None else None for v in rows[pk])]
    sql = (  # identifiers from model metadata; values are params
        f"INSERT INTO {table} ({key}, {', '.join(columns)}) VALUES {', '.join([placeholders] * len(rows))} "
        f"ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
