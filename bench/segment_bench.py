"""Segment benchmark: ten segments over 1,000,000 subscribers, counted in SQL; the largest
materialized into deliveries.

    make bench NAME=segment      (BENCH_SEGMENT_SUBSCRIBERS / BENCH_SEGMENT_EVENTS to change sizes)

Data (fixed seed, PostgreSQL COPY, built once and reused while its size matches): 1,000,000
active subscribers with 10 typed custom attributes each (country, plan, age, company, source,
vip, renewal, seats, city, format), all following topic `news` by instant email and a third
also `product`; 0.5% suppressed; 1% with a soft bounce; two newsletters (one per topic) with
1,000,000 + 333,334 deliveries; 2,000,000 engagement events on them over 120 days (a tenth of
opens by machines) and the per-subscriber summaries derived from them.

Ten segments, simple to nested behavioural (SEGMENTS below), each counted as the audience
counts it: `segment_subscribers(rules).count()` (mailable subscribers in the segment: one
query). Each is counted once to warm the cache, then three times; its time is the median.
Headline: the slowest segment's count time in ms (target < 1,000). Also: materialization of the
largest segment into deliveries through the fan-out's own `send_materialize` (INSERT ... SELECT
in keyset pages; enqueued to an in-memory broker, nobody sends; target < 20 s), peak RSS of
this process while counting and materializing, the slowest segment materialized too (behavioural:
the fan-out evaluates a segment once and pages through its members), and EXPLAIN (ANALYZE,
BUFFERS) of the two slowest segments, written to var/bench/segment_plans.txt.
"""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import common

common.use_services(database="bulletin_bench_segment", redis_db=7)
os.environ["CELERY_BROKER_URL"] = "memory://"  # enqueued batches go nowhere: this measures materializing

SUBSCRIBERS = int(os.environ.get("BENCH_SEGMENT_SUBSCRIBERS", "1000000"))
EVENTS = int(os.environ.get("BENCH_SEGMENT_EVENTS", "2000000"))
SEED = 20261125
COUNTRIES = ["DE", "FR", "US", "GB", "AT", "NL", "ES", "IT"]
FIELDS = [
    ("country", "choice", COUNTRIES),
    ("plan", "choice", ["free", "pro", "team"]),
    ("age", "number", []),
    ("company", "text", []),
    ("source", "text", []),
    ("vip", "boolean", []),
    ("renewal", "date", []),
    ("seats", "number", []),
    ("city", "text", []),
    ("format", "choice", ["html", "text"]),
]
PLANS_PATH = common.ROOT / "var" / "bench" / "segment_plans.txt"


def attributes(rng: random.Random) -> dict:
    return {
        "country": rng.choice(COUNTRIES),
        "plan": rng.choices(["free", "pro", "team"], weights=[70, 25, 5])[0],
        "age": rng.randint(18, 80),
        "company": f"Company {rng.randrange(50_000)}",
        "source": rng.choice(["form", "import", "api", "event", "partner"]),
        "vip": rng.random() < 0.05,
        "renewal": (date(2026, 1, 1) + timedelta(days=rng.randrange(730))).isoformat(),
        "seats": rng.choice([1, 1, 1, 2, 5, 10, 50]),
        "city": rng.choice(["Berlin", "Paris", "London", "Vienna", "Madrid", "Rome", "Boston", "Lyon"]),
        "format": rng.choice(["html", "html", "text"]),
    }


def segments(publication_id: int) -> list[tuple[str, dict]]:
    def attr(key: str, op: str, value=None) -> dict:
        return {"type": "attribute", "key": key, "op": op, **({} if value is None else {"value": value})}

    return [
        ("1 country = DE", attr("country", "eq", "DE")),
        (
            "2 country in 3, age 25-40",
            {
                "type": "and",
                "rules": [attr("country", "in", ["DE", "FR", "AT"]), attr("age", "range", {"min": 25, "max": 40})],
            },
        ),
        ("3 company contains '777'", attr("company", "contains", "777")),
        (
            "4 vip and renewal in 2026 H2",
            {
                "type": "and",
                "rules": [
                    attr("vip", "eq", True),
                    attr("renewal", "range", {"min": "2026-07-01", "max": "2026-12-31"}),
                ],
            },
        ),
        ("5 follows product", {"type": "topic", "topic": "product", "frequencies": ["instant", "daily"]}),
        ("6 tier active or at risk", {"type": "engagement_tier", "tiers": ["active", "at_risk"]}),
        ("7 clicked anything in 90 days", {"type": "activity", "action": "clicked", "within_days": 90}),
        (
            "8 opened newsletter A in 30 days",
            {"type": "activity", "action": "opened", "within_days": 30, "publication": publication_id},
        ),
        (
            "9 sent news in 60 days, not opened in 30",
            {
                "type": "and",
                "rules": [
                    {"type": "activity", "action": "sent", "within_days": 60, "topic": "news"},
                    {"type": "not", "rule": {"type": "activity", "action": "opened", "within_days": 30}},
                ],
            },
        ),
        (
            "10 nested behavioural",
            {
                "type": "and",
                "rules": [
                    {
                        "type": "or",
                        "rules": [
                            attr("country", "eq", "DE"),
                            {"type": "and", "rules": [attr("country", "eq", "FR"), attr("plan", "eq", "pro")]},
                        ],
                    },
                    {
                        "type": "or",
                        "rules": [
                            {"type": "activity", "action": "clicked", "within_days": 90},
                            {
                                "type": "and",
                                "rules": [
                                    {"type": "activity", "action": "opened", "within_days": 30, "topic": "news"},
                                    {"type": "not", "rule": {"type": "soft_bounced", "within_days": 90}},
                                ],
                            },
                        ],
                    },
                    {"type": "not", "rule": {"type": "engagement_tier", "tiers": ["dormant"]}},
                ],
            },
        ),
    ]


def _dataset(now: datetime) -> dict:
    """Build the data unless a dataset of this size is already there."""
    from django.db import connection

    from analytics.models import EngagementEvent
    from bench import datagen
    from bench.common import truncate_app_tables
    from channels_app.models import Channel, Send
    from publishing.models import Publication
    from subscribers.models import Subscriber, SubscriberField, Topic

    if Subscriber.objects.count() == SUBSCRIBERS and EngagementEvent.objects.count() == EVENTS:
        print(f"reusing the dataset of {SUBSCRIBERS:,} subscribers", flush=True)
        return {"publication": Publication.objects.get(slug="newsletter-a").pk, "built_s": 0.0}
    started = time.perf_counter()
    truncate_app_tables()
    for key, kind, choices in FIELDS:
        SubscriberField.objects.create(key=key, label=key.title(), type=kind, choices=choices)
    news, product = Topic.objects.create(slug="news", name="News"), Topic.objects.create(slug="product", name="Product")
    print(f"COPY {SUBSCRIBERS:,} subscribers with 10 attributes…", flush=True)
    # Joined over the last two years; scores spread over 0-4 so every engagement tier is populated.
    datagen.subscribers(
        SUBSCRIBERS, topic_id=news.pk, seed=SEED, attributes=attributes, score=lambda rng: rng.random() * 4
    )
    channel = Channel.objects.create(
        name="Bench email",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "b@example.com"},
        credentials={},
    )
    ranges = []
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO subscribers_subscription "
            "(subscriber_id, topic_id, channel_kind, frequency, created_at, updated_at) "
            "SELECT id, %s, 'email', 'instant', now(), now() FROM subscribers_subscriber WHERE id %% 3 = 0",
            [product.pk],
        )
        cursor.execute(
            "INSERT INTO subscribers_suppression (email, email_hash, reason, note, created_at) "
            "SELECT email, encode(sha256(convert_to(lower(email), 'UTF8')), 'hex'), 'manual', '', now() "
            "FROM subscribers_subscriber WHERE id %% 200 = 0",
            [],
        )
        cursor.execute(
            "INSERT INTO analytics_hygieneaction (subscriber_id, email, kind, reason, created_at) "
            "SELECT id, email, 'soft_bounce', 'bench', now() - ((id %% 120) * interval '1 day') "
            "FROM subscribers_subscriber WHERE id %% 100 = 7",
            [],
        )
        for slug, topic, where in (("newsletter-a", news, "true"), ("newsletter-b", product, "id %% 3 = 0")):
            publication = Publication.objects.create(
                title=slug, slug=slug, state="published", published_at=now - timedelta(days=10)
            )
            publication.topics.add(topic)
            send = Send.objects.create(
                key=f"bench-{slug}", kind="newsletter", publication=publication, status="completed"
            )
            cursor.execute("INSERT INTO analytics_sendtopic (send_id, topic_id) VALUES (%s, %s)", [send.pk, topic.pk])
            print(f"deliveries of {slug}…", flush=True)
            cursor.execute(
                "INSERT INTO channels_app_delivery (send_id, period, channel_id, subscriber_id, recipient_key, "
                "recipient, state, attempts, last_error, provider_message_id, lease_token, created_at, updated_at, "
                "sent_at) SELECT %s, %s, %s, id, id, email, 'delivered', 1, '', '', '', now(), now(), "
                f"now() - ((id * 31) %% (90 * 86400)) * interval '1 second' FROM subscribers_subscriber WHERE {where} "
                "ORDER BY id RETURNING id",
                [send.pk, send.delivery_period, channel.pk],
            )
            ids = [row[0] for row in cursor.fetchall()]
            ranges.append((min(ids), max(ids)))
    print(f"COPY {EVENTS:,} engagement events…", flush=True)
    datagen.events_copy(EVENTS, delivery_ids=ranges, days=120, seed=SEED, now=now)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE") if connection.connection.autocommit else cursor.execute("ANALYZE")
    publication_id = Publication.objects.get(slug="newsletter-a").pk
    return {"publication": publication_id, "built_s": round(time.perf_counter() - started, 1)}


def _count(rules: dict, now: datetime) -> tuple[int, float]:
    from subscribers.selectors import audience_count, segment_subscribers

    started = time.perf_counter()
    n = audience_count(segment_subscribers(rules=rules, now=now))
    return n, (time.perf_counter() - started) * 1000


def _explain(rules: dict, now: datetime) -> str:
    """The plan of the count as audience_count runs it (in its audience_session)."""
    from django.db import connection

    from subscribers.selectors import audience_session, segment_subscribers

    sql, params = segment_subscribers(rules=rules, now=now).order_by().values("pk").query.sql_with_params()
    with audience_session(), connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) SELECT count(*) FROM ({sql}) AS q", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _materialize(rules: dict) -> dict:
    """The segment as a publication without topics would get it (every member, by email), through
    the fan-out's own send_materialize; compared with the audience counted just before."""
    from django.utils import timezone

    from channels_app.models import Delivery, Send
    from publishing.selectors import audience_recipients
    from publishing.services.fanout import send_materialize

    audience = {"topic_ids": [], "channel_kinds": ["email"], "broadcast": False, "segment": rules}
    expected = audience_recipients(kind="email", topic_ids=[], frequencies=["instant"], segment=rules).count()
    send = Send.objects.create(
        key="bench-segment-send",
        kind="newsletter",
        status="sending",
        started_at=timezone.now(),
        audience=audience,
        content={"email": {"subject": "x", "html": "<p>x</p>", "text": "x"}},
    )
    started = time.perf_counter()
    created = send_materialize(send_id=send.pk)
    seconds = time.perf_counter() - started
    total = Delivery.objects.filter(send=send).count()
    return {"deliveries": created, "audience_counted_before": expected, "in_table": total, "seconds": round(seconds, 2)}


def _forget_previous_materialization() -> None:
    """Remove the send an earlier run materialized, before anything is measured: in SQL (the
    ORM's cascade would load its ~900,000 deliveries into this process, which is what an
    earlier run's 938 MB peak was), then VACUUM ANALYZE, so the counts do not read through
    the dead rows of a reused dataset."""
    from django.db import connection

    from channels_app.models import Send

    send_ids = list(Send.objects.filter(key="bench-segment-send").values_list("pk", flat=True))
    if not send_ids:
        return
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM channels_app_delivery WHERE send_id = ANY(%s)", [send_ids])
        Send.objects.filter(pk__in=send_ids).delete()
        if connection.connection.autocommit:
            cursor.execute("VACUUM ANALYZE channels_app_delivery")


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # Linux: writing 5 resets the process's peak resident set size (VmHWM)
        Path("/proc/self/clear_refs").write_text("5")


def main() -> int:
    from bench.common import django_setup, ensure_database, peak_rss_mb, report

    django_setup()
    ensure_database()
    now = datetime.now(UTC)
    data = _dataset(now)
    _forget_previous_materialization()
    from subscribers.segments.rules import segment_rules_validate

    chosen = segments(data["publication"])
    for _, rules in chosen:
        segment_rules_validate(rules)
    _reset_peak_rss()
    results = []
    for name, rules in chosen:
        _count(rules, now)  # warm the cache
        runs = [_count(rules, now) for _ in range(3)]
        ms = statistics.median(t for _, t in runs)
        results.append({"segment": name, "count": runs[0][0], "ms": round(ms, 1)})
        print(f"{name}: {runs[0][0]:,} subscribers in {ms:.0f} ms", flush=True)
    slowest = sorted(results, key=lambda r: -r["ms"])
    rules_by_name = dict(chosen)
    plans = {r["segment"]: _explain(rules_by_name[r["segment"]], now) for r in slowest[:2]}
    PLANS_PATH.parent.mkdir(parents=True, exist_ok=True)
    PLANS_PATH.write_text("\n\n".join(f"== {name}\n{plan}" for name, plan in plans.items()) + "\n")
    largest = max(results, key=lambda r: r["count"])
    print(f"materializing the largest ({largest['segment']}: {largest['count']:,})…", flush=True)
    materialized = _materialize(rules_by_name[largest["segment"]])
    # And the slowest to count (behavioural: EXISTS over deliveries and events), which the
    # fan-out evaluates once and then pages through by member ids.
    print(f"materializing the slowest ({slowest[0]['segment']}: {slowest[0]['count']:,})…", flush=True)
    _forget_previous_materialization()
    behavioural = _materialize(rules_by_name[slowest[0]["segment"]])
    # Counted a moment apart: "within N days" windows move, so allow a few subscribers either way.
    ok = all(abs(m["in_table"] - m["audience_counted_before"]) <= 100 for m in (materialized, behavioural))
    report(
        {
            "name": "segment",
            "value": slowest[0]["ms"],
            "unit": "ms (slowest segment count)",
            "target_ms": 1000,
            "subscribers": SUBSCRIBERS,
            "events": EVENTS,
            "segments": results,
            "slowest_two": [r["segment"] for r in slowest[:2]],
            "plans_file": str(PLANS_PATH.relative_to(common.ROOT)),
            "materialize": {**materialized, "segment": largest["segment"], "target_s": 20, "matches_audience": ok},
            "materialize_slowest": {**behavioural, "segment": slowest[0]["segment"]},
            "peak_rss_mb": round(peak_rss_mb(os.getpid()), 1),
            "dataset_built_s": data["built_s"],
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
