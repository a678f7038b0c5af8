"""Digest benchmark: personalized daily digests for 10,000 subscribers, 100 candidate publications.

    make bench NAME=digest          (BENCH_DIGEST_SUBSCRIBERS / BENCH_DIGEST_CANDIDATES to change sizes)

Data (fixed seed): 10,000 active subscribers in UTC, each following 1-3 of 5 topics daily, all
due now; 100 publications from the last 24 hours; an engagement history of ~18,000 human clicks
on 60,000 older deliveries (so the ranking's click query has real work). Then the beat's own
service, `digests_run()`, builds every digest: due subscribers, one ranking query per batch of
1,000, claims, delivery rows and their enqueueing (to an in-memory broker: no worker sends).
Headline: total seconds (target < 20 s). Also: one subscriber's digest built and rendered
(rank + claim + delivery + its email, target < 20 ms at p95) and a repeated run (must build 0).
Own database (bulletin_bench_digest) unless DATABASE_URL names another.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench import common

common.use_services(database="bulletin_bench_digest", redis_db=11)
os.environ["CELERY_BROKER_URL"] = "memory://"  # enqueued batches go nowhere: this measures building

SUBSCRIBERS = int(os.environ.get("BENCH_DIGEST_SUBSCRIBERS", "10000"))
CANDIDATES = int(os.environ.get("BENCH_DIGEST_CANDIDATES", "100"))
SINGLE_SAMPLES = 200
SEED = 20261123


def _dataset(now: datetime) -> dict:
    from django.db import connection

    from bench import datagen
    from channels_app.models import Channel, Send
    from publishing.models import Publication
    from subscribers.models import Topic

    rng = random.Random(SEED)
    topics = [Topic.objects.create(slug=f"topic-{i}", name=f"Topic {i}") for i in range(5)]
    datagen.subscribers(SUBSCRIBERS, topic_id=topics[0].pk, frequency="daily")
    channel = Channel.objects.create(
        name="Bench email",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "bench@example.com"},
        credentials={},
    )
    with connection.cursor() as cursor:
        # Everyone due now (UTC, this hour); topics 1-4 added to about half of them each.
        cursor.execute("UPDATE subscribers_subscriber SET timezone = 'UTC', digest_hour = %s", [now.hour])
        for topic in topics[1:]:
            cursor.execute(
                "INSERT INTO subscribers_subscription (subscriber_id, topic_id, channel_kind, frequency, created_at,"
                " updated_at) SELECT id, %s, 'email', 'daily', now(), now() FROM subscribers_subscriber"
                " WHERE (id * %s) %% 7 < 3 ON CONFLICT DO NOTHING",
                [topic.pk, topic.pk + 3],
            )

    def publication(i: int, published_at: datetime, prefix: str) -> Publication:
        p = Publication.objects.create(
            title=f"{prefix} {i}: what changed and why",
            slug=f"{prefix.lower()}-{i}",
            summary="A short summary of the piece, two lines in a digest.",
            body="Body",
            state=Publication.State.PUBLISHED,
            published_at=published_at,
            quality_score=round(rng.random(), 2) if i % 4 else None,
        )
        p.topics.set(rng.sample(topics, k=rng.choice([1, 1, 2])))
        return p

    for i in range(CANDIDATES):
        publication(i, now - timedelta(minutes=rng.randint(5, 24 * 60 - 5)), "Story")
    history = [publication(i, now - timedelta(days=rng.randint(20, 60)), "Old") for i in range(30)]
    with connection.cursor() as cursor:
        for old in history:
            send = Send.objects.create(key=f"bench-alert-{old.pk}", kind="alert", publication=old, status="completed")
            cursor.execute(
                "INSERT INTO channels_app_delivery (send_id, period, channel_id, subscriber_id, recipient_key,"
                " recipient, state, attempts, last_error, provider_message_id, lease_token, created_at, updated_at)"
                " SELECT %s, %s, %s, id, id, email, 'sent', 1, '', '', '', now(), now() FROM subscribers_subscriber"
                " ORDER BY md5(id::text || %s) LIMIT 2000",
                [send.pk, send.delivery_period, channel.pk, str(old.pk)],
            )
        cursor.execute(
            "INSERT INTO analytics_engagementevent (delivery_id, kind, occurred_at, is_machine, metadata, created_at)"
            " SELECT id, 'click', now() - (random() * interval '90 days'), false, '{}'::jsonb, now()"
            " FROM channels_app_delivery WHERE random() < 0.3"
        )
        cursor.execute("SELECT count(*) FROM analytics_engagementevent")
        clicks = cursor.fetchone()[0]
        cursor.execute("ANALYZE")
    return {"topics": len(topics), "clicks": clicks, "channel": channel}


def _single(now: datetime, channel) -> list[float]:
    """Build and render one subscriber's digest, one at a time, for a sample of subscribers."""
    from django.db import transaction

    from channels_app.models import Delivery
    from channels_app.rendering import prepare
    from channels_app.services.deliveries import deliveries_rows
    from publishing.models import DigestLog
    from publishing.services.digests import digest_batch_build, digest_slot
    from publishing.services.ranking import candidates_load

    sample = list(DigestLog.objects.order_by("subscriber_id").values_list("subscriber_id", flat=True)[:SINGLE_SAMPLES])
    with transaction.atomic():
        Delivery.objects.filter(send__kind="digest", subscriber_id__in=sample).delete()
        DigestLog.objects.filter(subscriber_id__in=sample).delete()
    candidates = candidates_load(since=now - timedelta(days=14), until=now)
    slot = digest_slot(frequency="daily", tz_name="UTC", hour=now.hour, weekday=0, now=now)
    timings = []
    for subscriber_id in sample:
        started = time.perf_counter()
        outcome = digest_batch_build(
            frequency="daily", batch=[(subscriber_id, slot)], candidates=candidates, channel=channel, now=now
        )
        delivery = Delivery.objects.select_related("send").get(send_id=outcome.sends[0], subscriber_id=subscriber_id)
        [row] = deliveries_rows(ids=[delivery.pk])[delivery.send_id]
        message = prepare(send=delivery.send, channel=channel).render(row)
        message.template.render(message.variables)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    from bench.common import django_setup, ensure_database, report, truncate_app_tables

    django_setup()
    ensure_database()
    truncate_app_tables()
    from django.db import connection

    from publishing.models import DigestLog
    from publishing.services.digests import digests_run

    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    data = _dataset(now)

    started = time.perf_counter()
    outcome = digests_run(now=now)
    seconds = time.perf_counter() - started
    again_started = time.perf_counter()
    again = digests_run(now=now + timedelta(minutes=5))
    again_seconds = time.perf_counter() - again_started
    logs = DigestLog.objects.count()
    single = _single(now, data["channel"])
    p95 = statistics.quantiles(single, n=20)[18]
    ok = outcome.sent + outcome.empty == SUBSCRIBERS and logs == SUBSCRIBERS and again.sent == 0
    report(
        {
            "name": "digest",
            "value": round(seconds, 2),
            "unit": "s",
            "target": "< 20 s for 10,000 subscribers; one subscriber < 20 ms",
            "subscribers": SUBSCRIBERS,
            "candidates": CANDIDATES,
            "digests_sent": outcome.sent,
            "digests_empty": outcome.empty,
            "sends": len(outcome.sends),
            "subscribers_per_second": round(SUBSCRIBERS / seconds),
            "click_history": data["clicks"],
            "repeated_run_seconds": round(again_seconds, 2),
            "repeated_run_built": again.sent,
            "single_subscriber_ms_p50": round(statistics.median(single), 2),
            "single_subscriber_ms_p95": round(p95, 2),
            "single_subscriber_samples": len(single),
            "database": connection.vendor,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
