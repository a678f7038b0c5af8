"""Writing engagement events in bulk, with what depends on them, in the caller's transaction.

Every writer (tracking drain, SES feedback, unsubscribe attribution) goes through
`events_record`, which is idempotent: events are inserted ON CONFLICT (dedupe_key,
occurred_at) DO NOTHING (a repeated event carries its first copy's time), the engagement
summaries only move first-times earlier and last-times later (min/max), and rollup cells
are marked dirty (recomputing a cell twice changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from analytics.models import DeliveryEngagement, EngagementEvent, RollupDirtyCell, SubscriberEngagement
from subscribers.models import Subscriber


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
    inserted = _insert(events)
    human = [
        e for e in events if not e.is_machine and e.kind in (EngagementEvent.Kind.OPEN, EngagementEvent.Kind.CLICK)
    ]
    old_days = _engagement_record(human, deliveries)
    if inserted is not None:
        _scores_bump([e for e in human if e.dedupe_key in inserted], deliveries)
    cells = {
        (e.occurred_at.date(), deliveries[e.delivery_id].send_id, deliveries[e.delivery_id].channel_id) for e in events
    }
    rollup_cells_touch(cells=cells | old_days)


_EVENT_COLUMNS = "delivery_id, kind, occurred_at, is_machine, metadata, dedupe_key, created_at"


def _insert(events: Sequence[EngagementEvent]) -> set[str] | None:
    """INSERT ... ON CONFLICT DO NOTHING (no conflict target: the unique (dedupe_key,
    occurred_at), or a large install's unique dedupe_key until partition_tables converts the
    table; docs/partitioning.md); on PostgreSQL through COPY into a session temp table,
    several times faster than a multi-row INSERT for drain-sized batches.
    Returns the dedupe keys really inserted (PostgreSQL), None where that is unknown."""
    if connection.vendor != "postgresql":
        EngagementEvent.objects.bulk_create(events, ignore_conflicts=True, batch_size=500)
        return None
    table = EngagementEvent._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS analytics_event_load (delivery_id bigint, kind varchar(16), "
            "occurred_at timestamptz, is_machine boolean, metadata jsonb, dedupe_key varchar(200), "
            "created_at timestamptz) ON COMMIT DELETE ROWS"
        )
        with cursor.cursor.copy(f"COPY analytics_event_load ({_EVENT_COLUMNS}) FROM STDIN") as copy:
            for e in events:
                metadata = json.dumps(e.metadata, separators=(",", ":"))
                copy.write_row((e.delivery_id, e.kind, e.occurred_at, e.is_machine, metadata, e.dedupe_key, now))
        cursor.execute(
            f"INSERT INTO {table} ({_EVENT_COLUMNS}) SELECT {_EVENT_COLUMNS} FROM analytics_event_load "
            "ON CONFLICT DO NOTHING RETURNING dedupe_key"
        )
        inserted = {row[0] for row in cursor.fetchall()}
        cursor.execute("DELETE FROM analytics_event_load")
    return inserted


def _scores_bump(human: Sequence[EngagementEvent], deliveries: Mapping[int, DeliveryInfo]) -> None:
    """Add each new human open or click to its subscriber's engagement score at once, with the
    nightly formula's weight and decay (analytics.services.engagement), so tiers and segments
    see today's engagement before the nightly recomputation (which replaces the sum)."""
    now = timezone.now()
    half_life = settings.ENGAGEMENT_SCORE_HALF_LIFE_DAYS
    bumps: dict[int, float] = {}
    for event in human:
        subscriber_id = deliveries[event.delivery_id].subscriber_id
        if subscriber_id is None:
            continue
        weight = settings.ENGAGEMENT_SCORE_CLICK_WEIGHT if event.kind == EngagementEvent.Kind.CLICK else 1.0
        age_days = max((now - event.occurred_at).total_seconds(), 0.0) / 86400
        bumps[subscriber_id] = bumps.get(subscriber_id, 0.0) + weight * 0.5 ** (age_days / half_life)
    if not bumps:
        return
    table = Subscriber._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET engagement_score = s.engagement_score + b.bump "  # noqa: S608 (our table)
            "FROM unnest(%s::bigint[], %s::double precision[]) AS b(id, bump) WHERE s.id = b.id",
            [list(bumps), list(bumps.values())],
        )


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
    known = DeliveryEngagement.objects.filter(pk__any=list(first)).values_list("pk", "first_open_at", "first_click_at")
    for delivery_id, first_open, first_click in known:
        info = deliveries[delivery_id]
        changed = False
        for column, old in (("open", first_open), ("click", first_click)):
            new = first[delivery_id].get(column)
            if new is not None and (old is None or new < old):
                changed = True
                if old is not None:
                    moved.add((old.date(), info.send_id, info.channel_id))
        if not changed:  # a repeat open or click: nothing to write
            del first[delivery_id]
    # Last engagement per subscriber is kept to the hour: sunset and ranking need no finer grain.
    known = SubscriberEngagement.objects.filter(pk__any=list(last)).values_list("pk", "last_open_at", "last_click_at")
    for subscriber_id, last_open, last_click in known:
        newest = last[subscriber_id]
        if all(
            old is not None and newest[column] - old < timedelta(hours=1)
            for column, old in (("open", last_open), ("click", last_click))
            if column in newest
        ):
            del last[subscriber_id]
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
    adapt = connection.ops.adapt_datetimefield_value
    keys = sorted(rows)
    if postgres:
        # One array per column: a short, constant statement whatever the number of rows (psycopg
        # re-parses every placeholder of a statement on each execution).
        arrays = ", ".join(["%s::bigint[]", *["%s::timestamptz[]"] * len(columns)])
        source = f"SELECT * FROM unnest({arrays})"
        params: list = [keys, *([rows[pk][i] for pk in keys] for i in range(len(columns)))]
    else:
        placeholders = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
        source = f"VALUES {', '.join([placeholders] * len(rows))}"
        params = []
        for pk in keys:
            params += [pk, *(adapt(v) if v is not None else None for v in rows[pk])]
    sql = (  # identifiers from model metadata; values are params
        f"INSERT INTO {table} ({key}, {', '.join(columns)}) {source} ON CONFLICT ({key}) DO UPDATE SET {sets}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
