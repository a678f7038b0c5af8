"""Alert benchmark: latency from publishing an alert to its hand-off to the provider, over a burst.

    make bench NAME=alert     (BENCH_ALERTS, BENCH_ALERT_SUBSCRIBERS, BENCH_ALERT_WORKERS to change sizes)

Real processes: the SES v2 emulator CLI (20 ms latency per call, messages not stored) and
BENCH_ALERT_WORKERS (4) Celery workers (solo pool, consuming only the `alerts` queue) on Redis;
four processes on two cores, because a batch spends much of its time waiting on SES and the
database (BENCH_WORKER_LOGLEVEL=INFO keeps each task's timing in /tmp/bulletin-bench-alert/).
This process publishes BENCH_ALERTS alerts back to back through `publication_publish` (what
admin and the API call), each to BENCH_ALERT_SUBSCRIBERS instant email subscribers. A
delivery's latency is its `sent_at` (recorded when SES accepted its chunk) minus its
publication's `published_at`. Headline: p95 over every delivery of the burst, in ms (target
< 2,000). Warm-up alerts go first so worker start-up is not counted.

Then the Slack-DM case (`slack_dm` in the JSON; the headline stays the email one): one alert
to BENCH_SLACK_DM_SUBSCRIBERS (1,000) subscribers by Slack direct message, against the Slack
emulator CLI enforcing Slack's own limits, 1 message/s per conversation and a workspace
ceiling of BENCH_SLACK_CEILING_PER_MINUTE (600), with 20 ms per call; the channel declares
no rates of its own, so the Slack adapter's stated limits apply. `share_of_ceiling` is the
achieved rate (messages from publishing to the last hand-off) over the ceiling (target >= 0.9);
`retried_429` the emulator's 429 answers, each retried; `lost` the DMs never handed over, and
every member must get exactly one.
Own database (bulletin_bench_alert) and Redis database (/13) unless the caller names others.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

from bench import common
from bench.common import stop

common.use_services(database="bulletin_bench_alert", redis_db=13)
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]

ALERTS = int(os.environ.get("BENCH_ALERTS", "20"))
SUBSCRIBERS = int(os.environ.get("BENCH_ALERT_SUBSCRIBERS", "100"))
WORKERS = int(os.environ.get("BENCH_ALERT_WORKERS", "4"))
SLACK_DMS = int(os.environ.get("BENCH_SLACK_DM_SUBSCRIBERS", "1000"))
SLACK_CEILING_PER_MINUTE = float(os.environ.get("BENCH_SLACK_CEILING_PER_MINUTE", "600"))
SLACK_TOKEN = "xoxb-bench"
LOGS = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bulletin-bench-alert"))


def _start_workers() -> list:
    from bench.common import start

    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--queues", "alerts"]
    command += [
        "--loglevel",
        os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"),
        "--without-mingle",
        "--without-gossip",
        "--without-heartbeat",
    ]
    return [start([*command, "-n", f"alert-bench-{i}@%h"], log=LOGS / f"worker-{i}.log") for i in range(WORKERS)]


def _dataset(endpoint_url: str):
    from django.contrib.auth import get_user_model

    from bench import datagen
    from channels_app.models import Channel
    from subscribers.models import Topic

    topic = Topic.objects.create(slug="status", name="Status alerts")
    datagen.subscribers(SUBSCRIBERS, topic_id=topic.pk, frequency="instant")
    Channel.objects.create(
        name="SES (emulator)",
        kind="email",
        is_default=True,
        rate_limit_per_second=5000,
        config={
            "esp": "amazon_ses",
            "from_email": "alerts@example.com",
            "endpoint_url": endpoint_url,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "bench", "aws_secret_access_key": "bench"},
    )
    users = get_user_model().objects
    publisher = users.filter(username="bench-publisher").first() or users.create_superuser(
        "bench-publisher", "publisher@example.com", None
    )
    return topic, publisher


def _alert(topic, title: str):
    from publishing.models import Publication

    publication = Publication.objects.create(
        title=title, slug=title.lower().replace(" ", "-"), body="Rotate your keys now.", priority="alert"
    )
    publication.topics.set([topic])
    return publication


def _slack_dm_case(topic_slug: str, publisher) -> dict:
    """One alert to SLACK_DMS members by direct message, against Slack's own limits."""
    from bench import datagen
    from channels_app.models import Channel, Delivery
    from publishing.services.publish import publication_publish
    from subscribers.models import Topic

    args = ["--token", SLACK_TOKEN, "--rate-per-channel", "1", "--latency-ms", "20"]
    slack, urls = common.emulator_start(
        "tests.emulators.slack", *args, "--workspace-rate-per-minute", str(SLACK_CEILING_PER_MINUTE)
    )
    try:
        topic = Topic.objects.create(slug=topic_slug, name="Direct alerts")
        members = datagen.slack_members(SLACK_DMS, topic_id=topic.pk)
        Channel.objects.create(
            name="Slack DMs (emulator)",
            kind="slack",
            is_default=True,
            config={"base_url": urls["url"]},
            credentials={"token": SLACK_TOKEN},
        )
        publication = _alert(topic, "Direct alert")
        publication_publish(publication=publication, actor=publisher)
        _wait_sent([publication.pk], SLACK_DMS, timeout=SLACK_DMS / (SLACK_CEILING_PER_MINUTE / 60) * 3 + 60)
        publication.refresh_from_db()
        rows = Delivery.objects.filter(send__publication=publication)
        sent = rows.filter(state=Delivery.State.SENT)
        last = max(sent.values_list("sent_at", flat=True))
        stats = common.emulator_stats(urls["endpoint_url"])
    finally:
        stop(slack)
    seconds = (last - publication.published_at).total_seconds()
    per_member = stats["by_channel"]
    return {
        "subscribers": SLACK_DMS,
        "ceiling_per_minute": SLACK_CEILING_PER_MINUTE,
        "per_conversation_per_second": 1,
        "seconds": round(seconds, 2),
        "achieved_per_minute": round(sent.count() / seconds * 60, 1),
        "share_of_ceiling": round(sent.count() / seconds / (SLACK_CEILING_PER_MINUTE / 60), 3),
        "retried_429": stats["ratelimited"],
        "lost": SLACK_DMS - sent.count(),
        "duplicates": sum(n - 1 for n in per_member.values() if n > 1),
        "every_member_once": sorted(per_member) == sorted("D" + m[1:] for m in members)
        and set(per_member.values()) == {1},
    }


def _wait_sent(publication_ids: list[int], expected: int, timeout: float) -> None:
    from bench.common import wait_until
    from channels_app.models import Delivery

    def done() -> bool:
        finished = Delivery.objects.filter(send__publication_id__in=publication_ids).exclude(
            state__in=[Delivery.State.QUEUED, Delivery.State.SENDING]
        )
        return finished.count() >= expected

    wait_until(done, timeout=timeout, interval=0.1, what=f"{expected} deliveries handed to SES")


def main() -> int:
    from bench.common import django_setup, ensure_database, peak_rss_mb, report, truncate_app_tables

    django_setup()
    ensure_database()
    truncate_app_tables()
    from channels_app.models import Delivery
    from core.redis import get_redis
    from publishing.services.publish import publication_publish

    get_redis().flushdb()  # this benchmark's own Redis database: a clean broker
    LOGS.mkdir(parents=True, exist_ok=True)
    ses, endpoint_url = common.ses_emulator_start(latency_ms=20)
    workers = _start_workers()
    try:
        topic, publisher = _dataset(endpoint_url)
        # Warm every worker (its SES client, connections) as a running deployment would be.
        warmups = [_alert(topic, f"Warm-up alert {i}") for i in range(WORKERS * 2)]
        for warmup in warmups:
            publication_publish(publication=warmup, actor=publisher)
        _wait_sent([w.pk for w in warmups], len(warmups) * SUBSCRIBERS, timeout=120)

        burst = [_alert(topic, f"Alert {i}") for i in range(ALERTS)]
        started = time.perf_counter()
        for publication in burst:
            publication_publish(publication=publication, actor=publisher)
        publish_seconds = time.perf_counter() - started
        ids = [p.pk for p in burst]
        _wait_sent(ids, ALERTS * SUBSCRIBERS, timeout=300)
        seconds = time.perf_counter() - started

        rows = Delivery.objects.filter(send__publication_id__in=ids)
        latencies = sorted(
            (sent - published).total_seconds() * 1000
            for sent, published in rows.filter(state=Delivery.State.SENT).values_list(
                "sent_at", "send__publication__published_at"
            )
        )
        failed = rows.exclude(state=Delivery.State.SENT).count()
        first = []
        for publication_id in ids:
            sent = rows.filter(send__publication_id=publication_id, state=Delivery.State.SENT)
            earliest = sent.order_by("sent_at").values_list("sent_at", "send__publication__published_at").first()
            if earliest:
                first.append((earliest[0] - earliest[1]).total_seconds() * 1000)
        cut = statistics.quantiles(latencies, n=100)
        ses_stats = common.ses_emulator_stats(endpoint_url)
        slack_dm = _slack_dm_case("direct", publisher)
        rss = [peak_rss_mb(w.pid) for w in workers]
    finally:
        for worker in workers:
            stop(worker)
        stop(ses)
        get_redis().flushdb()
    p95 = cut[94]
    # Every subscriber gets every alert (warm-ups included).
    expected_at_ses = (ALERTS + WORKERS * 2) * SUBSCRIBERS
    ok = (
        failed == 0
        and len(latencies) == ALERTS * SUBSCRIBERS
        and ses_stats.get("recipients_accepted") == expected_at_ses
        and slack_dm["lost"] == 0
        and slack_dm["every_member_once"]
    )
    report(
        {
            "name": "alert",
            "value": round(p95),
            "unit": "ms",
            "target": "p95 < 2,000 ms from publish to provider hand-off",
            "alerts": ALERTS,
            "subscribers_per_alert": SUBSCRIBERS,
            "deliveries": len(latencies),
            "failed": failed,
            "p50_ms": round(statistics.median(latencies)),
            "p95_ms": round(p95),
            "p99_ms": round(cut[98]),
            "max_ms": round(latencies[-1]),
            "first_handoff_per_alert_p50_ms": round(statistics.median(first)),
            "first_handoff_per_alert_p95_ms": round(statistics.quantiles(first, n=20)[18]) if len(first) > 1 else None,
            "publish_calls_seconds": round(publish_seconds, 3),
            "burst_seconds": round(seconds, 2),
            "emails_per_second": round(len(latencies) / seconds),
            "workers": WORKERS,
            "worker_peak_rss_mb": [round(r, 1) for r in rss],
            "ses_recipients_accepted": ses_stats.get("recipients_accepted"),
            "ses_recipients_expected": expected_at_ses,
            "ses_latency_ms": 20,
            "slack_dm": slack_dm,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
