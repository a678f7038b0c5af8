"""Daily rollups per (day, send, channel): incremental, idempotent, kept after raw events go.

Writers mark cells dirty (events.rollup_cells_touch); each run also scans deliveries handed
over or failed since its cursor and attributes new unsubscribes. A dirty cell is recomputed
from the raw rows (so running twice changes nothing) and removed only if nobody touched it
after it was read. Per publication, topic (SendTopic), channel and day are sums of cells;
unique opens and clickers are counted on the day of a delivery's first human open or click
(DeliveryEngagement), so those sums never count a delivery twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import (
    AnalyticsCursor,
    DailyRollup,
    DeliveryEngagement,
    EngagementEvent,
    LinkRollup,
    ProviderNotification,
    RollupDirtyCell,
    SendTopic,
)
from analytics.services.events import DeliveryInfo, events_record, rollup_cells_touch
from channels_app.adapters import receipt_kinds
from channels_app.models import GAVE_UP, HANDED_OVER, Channel, Delivery, Send
from subscribers.models import ConsentRecord, Topic

# Upper bounds (seconds) of the publish → hand-off latency histogram; "inf" holds the rest.
LATENCY_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 21600, 86400)
COUNTERS = (  # every count a DailyRollup holds
    "sent",
    "delivered",
    "failed",
    "opens",
    "machine_opens",
    "unique_opens",
    "clicks",
    "machine_clicks",
    "unique_clickers",
    "hard_bounces",
    "soft_bounces",
    "complaints",
    "unsubscribes",
    "rejects",
)
# Unsubscribes are attributed to the subscriber's last message within this many days.
UNSUBSCRIBE_ATTRIBUTION_DAYS = 30


@dataclass
class RollupResult:
    cells: int = 0
    marked_sent: int = 0
    unsubscribes: int = 0


def rollups_update(*, max_cells: int = 5000) -> RollupResult:
    result = RollupResult()
    result.marked_sent = deliveries_scan()
    result.unsubscribes = unsubscribes_attribute()
    cells = list(RollupDirtyCell.objects.order_by("day", "send_id", "channel_id")[:max_cells])
    by_day: dict[date, list[RollupDirtyCell]] = defaultdict(list)
    for cell in cells:
        by_day[cell.day].append(cell)
    horizon = timezone.now().date() - timedelta(days=settings.ANALYTICS_EVENT_RETENTION_DAYS)
    for day, day_cells in by_day.items():
        with transaction.atomic():
            if day >= horizon:  # older cells lost their raw events: their rollups stay as they are
                _recompute(day, {(c.send_id, c.channel_id) for c in day_cells})
            # One DELETE for the day's cells, each removed unless touched again since read.
            untouched = Q()
            for cell in day_cells:
                untouched |= Q(pk=cell.pk, touched_at__lte=cell.touched_at)
            RollupDirtyCell.objects.filter(untouched).delete()
    result.cells = len(cells)
    return result


def deliveries_scan() -> int:
    """Mark the cells of deliveries handed over or given up since the last scan."""
    cursor, since = _cursor("deliveries")
    recent = Delivery.objects.filter(state__in=HANDED_OVER + GAVE_UP, updated_at__gte=since)
    sent = (
        recent.filter(sent_at__isnull=False).annotate(d=TruncDate("sent_at")).values_list("d", "send_id", "channel_id")
    )
    failed = (
        recent.filter(state__in=GAVE_UP).annotate(d=TruncDate("updated_at")).values_list("d", "send_id", "channel_id")
    )
    cells = set(sent.distinct()) | set(failed.distinct())
    rollup_cells_touch(cells=cells)
    cursor.save(update_fields=["position"])
    return len(cells)


def unsubscribes_attribute() -> int:
    """Unsubscribes (consent records) become events on the subscriber's last message before them."""
    cursor, since = _cursor("unsubscribes")
    # Each record's last message within the attribution window, in the same query.
    last_delivery = (
        Delivery.objects.filter(
            subscriber_id=OuterRef("subscriber_id"),
            sent_at__lte=OuterRef("created_at"),
            sent_at__gte=OuterRef("created_at") - timedelta(days=UNSUBSCRIBE_ATTRIBUTION_DAYS),
        )
        .order_by("-sent_at")
        .values("pk")[:1]
    )
    records = list(
        ConsentRecord.objects.filter(action=ConsentRecord.Action.UNSUBSCRIBED, created_at__gte=since)
        .only("pk", "subscriber_id", "created_at", "source", "method")
        .annotate(last_delivery_id=Subquery(last_delivery))
        .filter(last_delivery_id__isnull=False)
    )
    delivered = Delivery.objects.only("send_id", "channel_id").in_bulk([r.last_delivery_id for r in records])
    events, infos = [], {}
    for record in records:
        last = delivered[record.last_delivery_id]
        infos[last.pk] = DeliveryInfo(last.pk, last.send_id, last.channel_id, record.subscriber_id)
        metadata = {"source": record.source, "method": record.method}
        events.append(
            EngagementEvent(
                delivery_id=last.pk,
                kind=EngagementEvent.Kind.UNSUBSCRIBE,
                occurred_at=record.created_at,
                metadata=metadata,
                dedupe_key=f"consent:{record.pk}",
            )
        )
    with transaction.atomic():
        events_record(events=events, deliveries=infos)
        cursor.save(update_fields=["position"])
    return len(events)


def _cursor(name: str) -> tuple[AnalyticsCursor, datetime]:
    """The cursor (already moved to now, saved by the caller) and where this scan starts."""
    now = timezone.now()
    cursor, created = AnalyticsCursor.objects.get_or_create(name=name, defaults={"position": now})
    since = datetime(2000, 1, 1, tzinfo=UTC) if created else cursor.position
    cursor.position = now
    return cursor, since - timedelta(seconds=settings.ANALYTICS_SCAN_OVERLAP_SECONDS)


def _recompute(day: date, pairs: set[tuple[int, int]]) -> None:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    send_ids = {s for s, _ in pairs}
    sends = {s.pk: s for s in Send.objects.filter(pk__in=send_ids).select_related("publication").defer("audience")}
    kinds = dict(Channel.objects.filter(pk__in={c for _, c in pairs}).values_list("pk", "kind"))
    counts: dict[tuple[int, int], dict] = {pair: dict.fromkeys(COUNTERS, 0) for pair in pairs}
    latency: dict[tuple[int, int], dict[str, int]] = defaultdict(dict)
    _count_deliveries(counts, latency, sends, send_ids, start, end)
    _count_events(counts, send_ids, start, end)
    _count_uniques(counts, send_ids, start, end)
    rows, receipts = [], set(receipt_kinds())
    for (send_id, channel_id), values in counts.items():
        if send_id not in sends or channel_id not in kinds:
            continue  # deleted meanwhile
        if kinds[channel_id] not in receipts:
            values["delivered"] = values["sent"]  # no delivery receipts: handed over is delivered
        rows.append(
            DailyRollup(
                day=day,
                send_id=send_id,
                channel_id=channel_id,
                publication_id=sends[send_id].publication_id,
                channel_kind=kinds[channel_id],
                latency_buckets=latency.get((send_id, channel_id), {}),
                **values,
            )
        )
    DailyRollup.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["send", "channel", "day"],
        update_fields=[*COUNTERS, "publication", "channel_kind", "latency_buckets", "updated_at"],
    )
    _links(day, pairs, sends, send_ids, start, end)
    send_topics_sync(sends=list(sends.values()))


def _count_deliveries(counts, latency, sends, send_ids, start, end) -> None:
    sent = Delivery.objects.filter(send_id__in=send_ids, sent_at__gte=start, sent_at__lt=end)
    for send_id, send in sends.items():
        reference = _published_at(send)
        buckets = {
            str(bound): Count("pk", filter=Q(sent_at__lte=reference + timedelta(seconds=bound)))
            for bound in LATENCY_BUCKETS
        }
        for row in sent.filter(send_id=send_id).values("channel_id").annotate(n=Count("pk"), **buckets):
            pair = (send_id, row["channel_id"])
            if pair not in counts:
                continue
            counts[pair]["sent"] = row["n"]
            cumulative = [row[str(b)] for b in LATENCY_BUCKETS]
            per_bucket = [cumulative[0]] + [b - a for a, b in zip(cumulative, cumulative[1:], strict=False)]
            histogram = {str(b): n for b, n in zip(LATENCY_BUCKETS, per_bucket, strict=True) if n}
            if row["n"] - cumulative[-1]:
                histogram["inf"] = row["n"] - cumulative[-1]
            latency[pair] = histogram
    failed = Delivery.objects.filter(send_id__in=send_ids, state__in=GAVE_UP, updated_at__gte=start, updated_at__lt=end)
    for row in failed.values("send_id", "channel_id").annotate(n=Count("pk")):
        if (row["send_id"], row["channel_id"]) in counts:
            counts[(row["send_id"], row["channel_id"])]["failed"] = row["n"]


def _published_at(send: Send) -> datetime:
    publication = send.publication
    if publication is not None and publication.published_at:
        return publication.published_at
    return send.started_at or send.created_at


def _count_events(counts, send_ids, start, end) -> None:
    rows = (
        EngagementEvent.objects.filter(delivery__send_id__in=send_ids, occurred_at__gte=start, occurred_at__lt=end)
        .values("delivery__send_id", "delivery__channel_id", "kind", "is_machine", "metadata__bounce_type")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        values = counts.get((row["delivery__send_id"], row["delivery__channel_id"]))
        if values is None:
            continue
        kind, machine, n = row["kind"], row["is_machine"], row["n"]
        if kind in ("open", "click"):
            values[("machine_" if machine else "") + kind + "s"] += n
        elif kind == "bounce":
            values["hard_bounces" if row["metadata__bounce_type"] == "hard" else "soft_bounces"] += n
        elif kind in ("delivered", "unsubscribe"):
            values[kind if kind == "delivered" else "unsubscribes"] += n
        elif kind == "complaint":
            values["complaints"] += n
        elif kind == "reject":
            values["rejects"] += n


def _count_uniques(counts, send_ids, start, end) -> None:
    for column, counter in (("first_open_at", "unique_opens"), ("first_click_at", "unique_clickers")):
        rows = (
            DeliveryEngagement.objects.filter(
                delivery__send_id__in=send_ids, **{f"{column}__gte": start, f"{column}__lt": end}
            )
            .values("delivery__send_id", "delivery__channel_id")
            .annotate(n=Count("pk"))
        )
        for row in rows:
            values = counts.get((row["delivery__send_id"], row["delivery__channel_id"]))
            if values is not None:
                values[counter] = row["n"]


def _links(day, pairs, sends, send_ids, start, end) -> None:
    rows = (
        EngagementEvent.objects.filter(
            delivery__send_id__in=send_ids, kind="click", is_machine=False, occurred_at__gte=start, occurred_at__lt=end
        )
        .values("delivery__send_id", "delivery__channel_id", "metadata__link_index")
        .annotate(n=Count("pk"))
    )
    links = []
    for row in rows:
        send_id, channel_id, index = row["delivery__send_id"], row["delivery__channel_id"], row["metadata__link_index"]
        table = (sends[send_id].content or {}).get("links") or [] if send_id in sends else []
        if (send_id, channel_id) in pairs and isinstance(index, int) and 0 <= index < len(table):
            links.append(
                LinkRollup(
                    day=day,
                    send_id=send_id,
                    channel_id=channel_id,
                    link_index=index,
                    url=str(table[index])[:2000],
                    clicks=row["n"],
                )
            )
    stale = Q()
    for send_id, channel_id in pairs:
        stale |= Q(send_id=send_id, channel_id=channel_id)
    LinkRollup.objects.filter(stale, day=day).delete()
    LinkRollup.objects.bulk_create(links)


def send_topics_sync(*, sends: list[Send]) -> None:
    """Topics of each send: its publication's, and the topic a digest names in its content."""
    through = Send._meta.get_field("publication").related_model.topics.through
    publication_ids = {s.publication_id for s in sends if s.publication_id}
    by_publication = defaultdict(set)
    for publication_id, topic_id in through.objects.filter(publication_id__in=publication_ids).values_list(
        "publication_id", "topic_id"
    ):
        by_publication[publication_id].add(topic_id)
    rows = []
    for send in sends:
        topics = set(by_publication.get(send.publication_id, ()))
        topic_id = (send.content or {}).get("topic_id")
        if isinstance(topic_id, int):
            topics.add(topic_id)
        rows += [(send.pk, t) for t in topics]
    existing = set(Topic.objects.filter(pk__in={t for _, t in rows}).values_list("pk", flat=True))
    SendTopic.objects.bulk_create(
        [SendTopic(send_id=s, topic_id=t) for s, t in rows if t in existing], ignore_conflicts=True
    )


def events_purge(*, chunk: int = 10000) -> int:
    """Delete raw events (and processed notifications) older than the retention; rollups stay.
    Partitioned events (PostgreSQL) lose whole months first (DROP of each partition entirely
    past the retention); what is left to delete is the boundary month's rows, at most a day's."""
    from analytics.services.partitions import events_partitions_drop

    cutoff = timezone.now() - timedelta(days=settings.ANALYTICS_EVENT_RETENTION_DAYS)
    events_partitions_drop()
    old = EngagementEvent.objects.filter(occurred_at__lt=cutoff)  # the time bound prunes partitions
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:chunk])
        if not ids:
            break
        deleted += old.filter(pk__in=ids).delete()[0]
    ProviderNotification.objects.filter(
        received_at__lt=cutoff, status__in=[ProviderNotification.Status.PROCESSED, ProviderNotification.Status.IGNORED]
    ).delete()
    return deleted
