"""Reads of analytics for the API, the dashboard and other apps. Reports read rollups only, so
they cost the same with a thousand events or a hundred million.

For other apps:
- `publication_engagement(publication_ids=...)`: sent, unique opens and clickers, rates per
  publication (ranking, the publication API).
- `send_variant_engagement(send_id=...)`: per A/B variant (Delivery.context["variant"]) the
  deliveries, unique opens and clickers, and rates (picking a subject-test winner).
- `subscriber_engagement(subscriber_ids=...)`: last human open and click per subscriber.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Substr

from analytics.models import DailyRollup, GuardTrip, LinkRollup, SendTopic, SubscriberEngagement
from analytics.services.rollups import COUNTERS, LATENCY_BUCKETS
from channels_app.adapters import ADAPTERS
from channels_app.models import Channel, Delivery
from subscribers.models import Topic

# rate = numerator / denominator. Engagement rates are over messages that reached an inbox:
# sent minus bounces (as ESPs count them), which holds whether or not SES delivery
# notifications are enabled; bounce and complaint rates are over sent, as SES computes them.
RATES = {
    "open_rate": ("unique_opens", "reached"),
    "click_rate": ("unique_clickers", "reached"),
    "click_to_open_rate": ("unique_clickers", "unique_opens"),
    "bounce_rate": ("hard_bounces", "sent"),
    "complaint_rate": ("complaints", "sent"),
    "unsubscribe_rate": ("unsubscribes", "reached"),
    "success_rate": ("sent", "attempted"),
}
METRICS = (*COUNTERS, "bounces", *RATES)
DEFAULT_METRICS = (
    "sent",
    "delivered",
    "unique_opens",
    "clicks",
    "unique_clickers",
    "bounces",
    "complaints",
    "unsubscribes",
    "open_rate",
    "click_rate",
    "bounce_rate",
    "complaint_rate",
)


def rollup_rows(
    *,
    start: date,
    end: date,
    channel_ids: Iterable[int] = (),
    channel_kinds: Iterable[str] = (),
    topic_ids: Iterable[int] = (),
    publication_ids: Iterable[int] = (),
) -> QuerySet[DailyRollup]:
    """Rollup cells in [start, end] (inclusive days), narrowed by channel (ids or kinds), topic, publication."""
    rows = DailyRollup.objects.filter(day__gte=start, day__lte=end)
    channel_ids, channel_kinds = list(channel_ids), list(channel_kinds)
    if channel_ids or channel_kinds:
        rows = rows.filter(Q(channel_id__in=channel_ids) | Q(channel_kind__in=channel_kinds))
    if topic_ids := list(topic_ids):
        rows = rows.filter(send_id__in=SendTopic.objects.filter(topic_id__in=topic_ids).values("send_id"))
    if publication_ids := list(publication_ids):
        rows = rows.filter(publication_id__in=publication_ids)
    return rows


def _sums() -> dict:
    return {name: Sum(name) for name in COUNTERS}


def with_rates(values: dict) -> dict:
    """Counters (None → 0) plus bounces and every rate (None when its denominator is 0)."""
    out = {name: values.get(name) or 0 for name in COUNTERS}
    out["bounces"] = out["hard_bounces"] + out["soft_bounces"]
    helpers = {"attempted": out["sent"] + out["failed"], "reached": max(out["sent"] - out["bounces"], 0)}
    for rate, (numerator, denominator) in RATES.items():
        base = helpers.get(denominator, out.get(denominator, 0))
        out[rate] = round(min(out[numerator] / base, 1.0), 6) if base else None
    return out


def engagement_report(*, start: date, end: date, metrics: Iterable[str] = DEFAULT_METRICS, **filters) -> dict:
    """Totals and a daily series (every day of the range, zeros included) of the chosen metrics."""
    metrics = list(metrics)
    rows = rollup_rows(start=start, end=end, **filters)
    totals = with_rates(rows.aggregate(**_sums()))
    by_day = {row["day"]: with_rates(row) for row in rows.values("day").annotate(**_sums()).order_by("day")}
    empty = with_rates({})
    series = []
    day = start
    while day <= end:
        values = by_day.get(day, empty)
        series.append({"date": day.isoformat(), **{m: values[m] for m in metrics}})
        day += timedelta(days=1)
    return {"totals": {m: totals[m] for m in metrics}, "series": series}


def channel_performance(*, start: date, end: date, **filters) -> list[dict]:
    """Per channel: counters, rates and publish → hand-off latency percentiles."""
    rows = rollup_rows(start=start, end=end, **filters)
    histograms: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for channel_id, buckets in rows.exclude(latency_buckets={}).values_list("channel_id", "latency_buckets"):
        for bound, count in buckets.items():
            histograms[channel_id][bound] += count
    names = dict(Channel.objects.values_list("pk", "name"))
    result = []
    for row in rows.values("channel_id", "channel_kind").annotate(**_sums()).order_by("channel_id"):
        values = with_rates(row)
        histogram = histograms.get(row["channel_id"], {})
        result.append(
            {
                "channel_id": row["channel_id"],
                "channel": names.get(row["channel_id"], "?"),
                "kind": row["channel_kind"],
                **values,
                "latency_seconds": {
                    "p50": latency_percentile(histogram, 0.5),
                    "p95": latency_percentile(histogram, 0.95),
                },
            }
        )
    return result


def latency_percentile(histogram: dict[str, int], quantile: float) -> float | None:
    """Upper bound of the bucket holding the quantile (None: no data, inf: past the last bucket)."""
    total = sum(histogram.values())
    if not total:
        return None
    seen = 0
    for bound in [*map(str, LATENCY_BUCKETS), "inf"]:
        seen += histogram.get(bound, 0)
        if seen >= quantile * total:
            return float(bound)
    return float("inf")


def failure_reasons(*, start: date, end: date, channel_ids: Iterable[int] = (), limit: int = 10) -> list[dict]:
    """The most common reasons deliveries failed or died in the range (first 120 characters)."""
    rows = Delivery.objects.filter(
        state__in=[Delivery.State.FAILED, Delivery.State.DEAD], updated_at__date__gte=start, updated_at__date__lte=end
    )
    if channel_ids := list(channel_ids):
        rows = rows.filter(channel_id__in=channel_ids)
    return list(
        rows.annotate(reason=Substr("last_error", 1, 120))
        .values("channel_id", "reason")
        .annotate(count=Count("pk"))
        .order_by("-count")[:limit]
    )


def topic_rates(*, start: date, end: date) -> list[dict]:
    """Totals and rates per topic: sums per send in one query, added up per topic of the send."""
    sums = rollup_rows(start=start, end=end).values("send_id").annotate(**_sums()).order_by()
    per_send = {row.pop("send_id"): row for row in sums}
    per_topic: dict[int, dict] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for send_id, topic_id in SendTopic.objects.filter(send_id__in=list(per_send)).values_list("send_id", "topic_id"):
        for name in COUNTERS:
            per_topic[topic_id][name] += per_send[send_id][name] or 0
    result = []
    for topic in Topic.objects.filter(pk__in=list(per_topic)).order_by("name"):
        totals = with_rates(per_topic[topic.pk])
        if totals["sent"]:
            result.append({"topic_id": topic.pk, "topic": topic.name, **totals})
    return result


def recommendations(*, channels: list[dict], topics: list[dict]) -> list[dict]:
    """Plain-language warnings: rates near or over the guard's limits, failing channels, slow hand-off."""
    advice = []
    warn = settings.GUARD_WARNING_RATIO
    limits = {"complaint_rate": settings.GUARD_COMPLAINT_RATE, "bounce_rate": settings.GUARD_BOUNCE_RATE}
    for scope, rows, name_key in (("topic", topics, "topic"), ("channel", channels, "channel")):
        for row in rows:
            if row["sent"] < settings.GUARD_MIN_SAMPLE:
                continue
            for rate, limit in limits.items():
                value = row[rate] or 0
                if value >= warn * limit:
                    label = rate.replace("_rate", "").replace("bounce", "hard bounce").capitalize()
                    level = "over" if value > limit else "near"
                    where = f"{scope} {row[name_key]}"
                    advice.append(
                        {
                            "severity": "critical" if level == "over" else "warning",
                            "scope": scope,
                            "name": row[name_key],
                            "metric": rate,
                            "value": value,
                            "limit": limit,
                            "message": f"{label} rate {value:.2%} is {level} the {limit:.2%} limit on {where}.",
                        }
                    )
    for row in channels:
        if row["success_rate"] is not None and row["success_rate"] < 0.995 and row["sent"] + row["failed"] >= 100:
            advice.append(
                {
                    "severity": "warning",
                    "scope": "channel",
                    "name": row["channel"],
                    "metric": "success_rate",
                    "value": row["success_rate"],
                    "limit": 0.995,
                    "message": f"Only {row['success_rate']:.2%} of messages on channel {row['channel']} "
                    "were handed over; see the failure reasons.",
                }
            )
        p95 = row["latency_seconds"]["p95"]
        if p95 is not None and p95 > 30 and not _read_later(row["kind"]):
            advice.append(
                {
                    "severity": "info",
                    "scope": "channel",
                    "name": row["channel"],
                    "metric": "latency_p95",
                    "value": p95,
                    "limit": 30,
                    "message": f"95% of messages on {row['channel']} left within {p95:.0f} s of publishing; "
                    "raise its rate limit or add workers if alerts must be faster.",
                }
            )
    return sorted(advice, key=lambda a: {"critical": 0, "warning": 1, "info": 2}[a["severity"]])


def performance_report(*, start: date, end: date) -> dict:
    channels = channel_performance(start=start, end=end)
    topics = topic_rates(start=start, end=end)
    return {
        "channels": channels,
        "failure_reasons": failure_reasons(start=start, end=end),
        "topics": topics,
        "recommendations": recommendations(channels=channels, topics=topics),
        "guard_trips": list(
            GuardTrip.objects.filter(created_at__date__gte=start, created_at__date__lte=end)
            .order_by("-created_at")
            .values("id", "scope", "metric", "send_id", "channel_id", "rate", "threshold", "reason", "created_at")[:20]
        ),
    }


def top_links(*, start: date, end: date, limit: int = 10, **filters) -> list[dict]:
    cells = rollup_rows(start=start, end=end, **filters).values("send_id")
    return list(
        LinkRollup.objects.filter(day__gte=start, day__lte=end, send_id__in=cells)
        .values("url")
        .annotate(clicks=Sum("clicks"))
        .order_by("-clicks", "url")[:limit]
    )


def publication_engagement(*, publication_ids: Iterable[int], start: date | None = None) -> dict[int, dict]:
    rows = DailyRollup.objects.filter(publication_id__in=list(publication_ids))
    if start is not None:
        rows = rows.filter(day__gte=start)
    return {row["publication_id"]: with_rates(row) for row in rows.values("publication_id").annotate(**_sums())}


def send_variant_engagement(*, send_id: int) -> dict[str, dict]:
    """Per A/B variant of a send: deliveries handed over, unique human opens and clickers, rates."""
    rows = (
        Delivery.objects.filter(send_id=send_id, sent_at__isnull=False)
        .values("context__variant")
        .annotate(
            sent=Count("pk"),
            unique_opens=Count("engagement__first_open_at"),
            unique_clickers=Count("engagement__first_click_at"),
        )
    )
    result = {}
    for row in rows:
        sent = row["sent"]
        result[str(row["context__variant"] or "")] = {
            "sent": sent,
            "unique_opens": row["unique_opens"],
            "unique_clickers": row["unique_clickers"],
            "open_rate": row["unique_opens"] / sent if sent else None,
            "click_rate": row["unique_clickers"] / sent if sent else None,
        }
    return result


def subscriber_engagement(*, subscriber_ids: Iterable[int]) -> dict[int, SubscriberEngagement]:
    return SubscriberEngagement.objects.in_bulk(list(subscriber_ids))


def dashboard_data(*, start: date, end: date, topic_id: int | None = None, channel_id: int | None = None) -> dict:
    """Everything the admin dashboard draws, from rollups: a handful of queries whatever the volume."""
    filters = {"topic_ids": [topic_id] if topic_id else [], "channel_ids": [channel_id] if channel_id else []}
    metrics = [
        "sent",
        "delivered",
        "failed",
        "unique_opens",
        "unique_clickers",
        "clicks",
        "hard_bounces",
        "complaints",
        "open_rate",
        "click_rate",
        "bounce_rate",
        "complaint_rate",
    ]
    report = engagement_report(start=start, end=end, metrics=metrics, **filters)
    rows = rollup_rows(start=start, end=end, **filters)
    publications = list(
        rows.exclude(publication=None)
        .values("publication_id", "publication__title")
        .annotate(**_sums())
        .order_by("-sent", "publication_id")[:10]
    )
    return {
        **report,
        "publications": [{"title": p["publication__title"], **with_rates(p)} for p in publications],
        "channels": channel_performance(start=start, end=end, **filters),
        "links": top_links(start=start, end=end, **filters),
        "trips": list(GuardTrip.objects.select_related("send", "channel").order_by("-created_at")[:5]),
    }


def engagement_tier_report(*, start, end) -> dict:
    """Active subscribers per engagement tier: now (one aggregate query), and per day from the
    nightly snapshots between `start` and `end` (days without a snapshot are left out)."""
    from analytics.models import EngagementTierSnapshot
    from analytics.services.engagement import engagement_tier_counts
    from subscribers.engagement import EngagementTier, tier_thresholds

    by_day: dict = {}
    rows = EngagementTierSnapshot.objects.filter(day__gte=start, day__lte=end).values_list("day", "tier", "count")
    for day, tier, count in rows:
        by_day.setdefault(day, dict.fromkeys(EngagementTier.values, 0))[tier] = count
    return {
        "tiers": list(EngagementTier.values),
        "thresholds": tier_thresholds(),
        "current": engagement_tier_counts(),
        "series": [{"day": day, **counts} for day, counts in sorted(by_day.items())],
    }


def _read_later(kind: str) -> bool:
    """Email is read when the reader opens it, so its minutes of sending are no alert's delay."""
    adapter = ADAPTERS.get(kind)
    return adapter is not None and adapter.renders_email
