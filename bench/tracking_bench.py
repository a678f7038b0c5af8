"""Tracking benchmark: open/click hits against gunicorn (config.settings.bench, PostgreSQL, Redis)
from wrk on loopback, in the same run as two baselines served the same way.

    make bench NAME=tracking

1. Its own database (bulletin_bench_tracking) and Redis database (/10) unless the caller set
   others; 20,000 subscribers, one send with 5 links, 20,000 deliveries handed over an hour ago.
2. gunicorn (sync workers) and a Celery worker with beat (the real drain: every 2 s).
3. Rounds of wrk (installed with apt-get when missing): /bench/empty, the tracking endpoints
   (60% opens, 40% clicks, over real deliveries; answered by the WSGI fast path, as in
   production), /bench/django/... (the same hits through the Django views), /bench/naive/...
   (the same hits, one INSERT each in the request). hits/s, p50/p95 and CPU per hit by process.
4. After the drain: every hit the server buffered (the stream's entries-added counter) is in
   the database exactly once; drain lag = event created_at - hit time, p50/p95.
Headline: tracking hits/s ÷ empty view hits/s (target ≥ 0.8; ≥ 2x the naive view).
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench import common  # noqa: E402
from bench.wrk import wrk_ensure, wrk_run  # noqa: E402

common.use_services(database="bulletin_bench_tracking", redis_db=10)

DELIVERIES = int(os.environ.get("BENCH_TRACKING_DELIVERIES", "20000"))
DURATION = int(os.environ.get("BENCH_TRACKING_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_TRACKING_ROUNDS", "2"))
CONNECTIONS = int(os.environ.get("BENCH_TRACKING_CONNECTIONS", "16"))
WORKERS = int(os.environ.get("BENCH_TRACKING_WORKERS", "4"))
PORT = int(os.environ.get("BENCH_TRACKING_PORT", "8765"))
LINKS = [f"https://example.com/articles/{i}" for i in range(5)]
BIN = Path(sys.executable).parent
# empty: an empty Django view; tracking: the production path (the WSGI fast path);
# tracking_django: the same hits through the views; naive: one INSERT per hit in the request.
RUNS = ("empty", "tracking", "tracking_django", "naive")


def data_create() -> list[tuple[int, int]]:
    """Subscribers, a send with links, deliveries handed over an hour ago: [(delivery id, send id)]."""
    from django.db import connection
    from django.utils import timezone

    from bench import datagen
    from channels_app.models import Channel, Send
    from subscribers.models import Topic

    topic = Topic.objects.create(slug="bench", name="Bench")
    channel = Channel.objects.create(name="Bench SES", kind="email", config={"esp": "outbox"}, credentials={})
    send = Send.objects.create(
        key="tracking-bench", kind="newsletter", status="sending", content={"links": LINKS, "topic_id": topic.pk}
    )
    datagen.subscribers(DELIVERIES, topic_id=topic.pk)
    sent_at = timezone.now() - timezone.timedelta(hours=1)
    datagen.deliveries_for(send_id=send.pk, channel_id=channel.pk, state="sent", sent_at=sent_at)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, send_id FROM channels_app_delivery ORDER BY id")
        return cursor.fetchall()


def paths_write(folder: Path, deliveries: list[tuple[int, int]]) -> dict[str, Path]:
    from analytics.links import click_url, open_url

    rng = random.Random(2026)
    paths = []
    for _ in range(60000):
        delivery_id, send_id = rng.choice(deliveries)
        if rng.random() < 0.6:
            url = open_url(delivery_id=delivery_id)
        else:
            url = click_url(delivery_id=delivery_id, link_index=rng.randrange(len(LINKS)), send_id=send_id)
        paths.append("/" + url.split("://", 1)[1].split("/", 1)[1])
    files = {name: folder / f"{name}.txt" for name in RUNS}
    files["tracking"].write_text("\n".join(paths) + "\n")
    files["tracking_django"].write_text("\n".join("/bench/django" + p for p in paths) + "\n")
    files["naive"].write_text("\n".join("/bench/naive" + p for p in paths) + "\n")
    files["empty"].write_text("/bench/empty\n")
    return files


def _wrk(wrk: str, paths: Path, seconds: int) -> dict:
    browser = (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.0 Safari/605.1.15"
    )
    return wrk_run(
        wrk, port=PORT, paths=paths, seconds=seconds, connections=CONNECTIONS, headers={"User-Agent": browser}
    )


def drain_wait(timeout: float = 180) -> float:
    """Seconds until the stream is empty and nothing is pending (the worker's beat drains it)."""
    from django.conf import settings

    from analytics.services.ingest import GROUP
    from core.redis import get_redis

    redis = get_redis()
    started = time.monotonic()

    def drained():
        if redis.xlen(settings.TRACKING_STREAM_KEY):
            return False
        try:
            return redis.xpending(settings.TRACKING_STREAM_KEY, GROUP)["pending"] == 0
        except Exception:
            return True

    common.wait_until(drained, timeout=timeout, interval=0.5, what="the tracking drain")
    return time.monotonic() - started


def accounting() -> dict:
    from django.conf import settings
    from django.db import connection

    from core.redis import get_redis

    info = get_redis().xinfo_stream(settings.TRACKING_STREAM_KEY)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT dedupe_key), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - occurred_at)), "
            "percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM created_at - occurred_at)), "
            "max(extract(epoch FROM created_at - occurred_at)) "
            "FROM analytics_engagementevent WHERE dedupe_key LIKE 'hit:%%'"
        )
        stored, distinct, lag50, lag95, lag_max = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM analytics_engagementevent WHERE dedupe_key LIKE 'naive:%%'")
        naive = cursor.fetchone()[0]
    buffered = int(info.get("entries-added", info.get(b"entries-added", 0)))
    return {
        "buffered": buffered,
        "stored": stored,
        "lost": max(buffered - stored, 0),
        "double_counted": (stored - distinct) + max(stored - buffered, 0),
        "drain_lag_p50_s": round(float(lag50 or 0), 3),
        "drain_lag_p95_s": round(float(lag95 or 0), 3),
        "drain_lag_max_s": round(float(lag_max or 0), 3),
        "naive_rows": naive,
    }


def main() -> int:
    common.django_setup()
    from django.conf import settings

    from core.periodic import periodic_tasks_sync
    from core.redis import get_redis

    wrk = wrk_ensure()
    common.ensure_database()
    common.truncate_app_tables()
    redis = get_redis()
    redis.delete(settings.TRACKING_STREAM_KEY, f"{settings.TRACKING_STREAM_KEY}:drain-lock")
    periodic_tasks_sync()
    deliveries = data_create()
    folder = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    files = paths_write(folder, deliveries)
    env = {"DJANGO_SETTINGS_MODULE": "config.settings.bench", "LOG_LEVEL": "WARNING"}
    web = common.start(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi", "-b", f"127.0.0.1:{PORT}",
         "-w", str(WORKERS), "--worker-class", "sync",
         "--backlog", "2048", "--log-level", "warning"],
        env=env, log=folder / "gunicorn.log",
    )  # fmt: skip
    worker = common.start(
        [str(BIN / "celery"), "-A", "config", "worker", "-B", "-Q", "default,alerts,bulk", "-c", "1",
         "--loglevel", "WARNING", "-s", str(folder / "beat-schedule")],
        env=env, log=folder / "worker.log",
    )  # fmt: skip
    results: dict[str, list[dict]] = {name: [] for name in RUNS}
    tracking_responses = 0
    try:
        import requests

        common.wait_until(lambda: _up(requests), timeout=60, what="gunicorn")
        for name in RUNS:  # warm every worker: imports, connections, link caches
            warmed = _wrk(wrk, files[name], 2)
            tracking_responses += warmed["requests"] if name.startswith("tracking") else 0
        for _ in range(ROUNDS):
            for name in RUNS:
                cpu_before = _cpu(web, worker)
                run = _wrk(wrk, files[name], DURATION)
                run["cpu"] = {k: v - cpu_before[k] for k, v in _cpu(web, worker).items()}
                results[name].append(run)
                if name.startswith("tracking"):
                    tracking_responses += run["requests"]
        drain_seconds = drain_wait()
        counts = accounting()
    finally:
        common.stop(web)
        common.stop(worker)

    summary = {name: _summary(runs) for name, runs in results.items()}
    ratio = summary["tracking"]["hits_per_second"] / summary["empty"]["hits_per_second"]
    vs_naive = summary["tracking"]["hits_per_second"] / summary["naive"]["hits_per_second"]
    django_ratio = summary["tracking_django"]["hits_per_second"] / summary["empty"]["hits_per_second"]
    # Correctness decides the exit code; the speed targets are reported, not enforced.
    correct = counts["lost"] == 0 and counts["double_counted"] == 0 and all(s["errors"] == 0 for s in summary.values())
    ok = correct and ratio >= 0.8 and vs_naive >= 2 and counts["drain_lag_p95_s"] < 5
    common.report(
        {
            "name": "tracking",
            "value": round(ratio, 3),
            "unit": "ratio to empty view",
            "tracking_vs_naive": round(vs_naive, 2),
            # The same hits through the Django views (TRACKING_FAST_PATH off), for comparison.
            "tracking_django_view_ratio": round(django_ratio, 3),
            "hits_per_second": {k: v["hits_per_second"] for k, v in summary.items()},
            "p50_ms": {k: v["p50_ms"] for k, v in summary.items()},
            "p95_ms": {k: v["p95_ms"] for k, v in summary.items()},
            "errors": {k: v["errors"] for k, v in summary.items()},
            # CPU time per hit, by process: web (gunicorn), worker (the drain), postgres, redis, wrk.
            "cpu_ms_per_hit": {k: v["cpu_ms_per_hit"] for k, v in summary.items()},
            "tracking_responses": tracking_responses,
            **counts,
            "in_flight_at_wrk_stop": counts["buffered"] - tracking_responses,
            "drain_after_load_s": round(drain_seconds, 2),
            "rounds": ROUNDS,
            "seconds_per_run": DURATION,
            "connections": CONNECTIONS,
            "gunicorn_workers": WORKERS,
            "deliveries": len(deliveries),
            "cpus": os.cpu_count(),
            "targets_met": ok,
            "correct": correct,
        }
    )
    return 0 if correct else 1


def _up(requests) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{PORT}/bench/empty", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _cpu(web, worker) -> dict[str, float]:
    import resource

    used = common.cpu_seconds({"web": web.pid, "worker": worker.pid})
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["wrk"] = children.ru_utime + children.ru_stime  # the only child that exits during a run
    return used


def _summary(runs: list[dict]) -> dict:
    hits = sum(r["requests"] for r in runs)
    cpu = {part: sum(r["cpu"][part] for r in runs) for part in runs[0]["cpu"]}
    return {
        "cpu_ms_per_hit": {part: round(seconds * 1000 / hits, 3) for part, seconds in cpu.items()},
        "hits_per_second": round(statistics.mean(r["requests_per_second"] for r in runs), 1),
        "p50_ms": round(statistics.mean(r["p50_ms"] for r in runs), 3),
        "p95_ms": round(statistics.mean(r["p95_ms"] for r in runs), 3),
        "errors": sum(r["errors"] for r in runs),
    }


if __name__ == "__main__":
    sys.exit(main())
