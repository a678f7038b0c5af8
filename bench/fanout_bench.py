"""Fan-out: one personalized email to 100,000 subscribers through the real pipeline.

PostgreSQL + Redis, real Celery worker processes, and the SES v2 emulator in its own process
(tests/emulators/sesv2.py) adding 0 ms and 20 ms per request. Measured from "send" (the
send is started) to the last hand-off to the provider:

    value           emails/s at 20 ms latency (the headline; target >= 800, and >= 1,000 at 0 ms)
    runs            per latency: emails/s, seconds, peak RSS per worker process, SQL statements,
                    database rows written and broker messages per email, and the emulator's
                    proof that every recipient was accepted exactly once
    rate_limited    sends to an emulator enforcing 14/s and 500/s: share of the allowed rate
                    reached (target >= 95%) and nothing lost

    python -m bench.fanout_bench [--subscribers 100000] [--latencies 0,20] [--workers 1] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench import common  # noqa: E402

common.use_services(database="bulletin_bench_fanout", redis_db=14)

TEMPLATE_PARAGRAPH = (
    "<p>Bulletin keeps the list clean by itself, sends instant alerts and scheduled digests, and tracks "
    "what happens to every message. This paragraph stands in for an article of ordinary length.</p>"
)
CONTENT = {
    "email": {
        "subject": "{{{name}}}, this week at Bulletin",
        "html": (
            "<!doctype html><html><body><h1>Hello {{{name_html}}}</h1>"
            + TEMPLATE_PARAGRAPH * 12
            + "".join(f'<p><a href="{{{{{{link_{i}}}}}}}">Read article {i}</a></p>' for i in range(5))
            + '<img src="{{{open_pixel_url}}}" width="1" height="1" alt="">'
            '<p><a href="{{{unsubscribe_url}}}">Unsubscribe</a> · <a href="{{{preferences_url}}}">Preferences</a></p>'
            "</body></html>"
        ),
        "text": "Hello {{{name}}}\n\n"
        + "Bulletin keeps the list clean by itself. " * 30
        + "".join(f"\nRead article {i}: {{{{{{link_{i}}}}}}}" for i in range(5))
        + "\n\nUnsubscribe: {{{unsubscribe_url}}}\nPreferences: {{{preferences_url}}}\n",
    },
    "links": [f"https://bulletin.example.com/articles/{i}" for i in range(5)],
}


def start_workers(count: int, concurrency: int, log_dir, *, nice: int = 0) -> list:
    """`nice`: the CPU priority docker-compose gives its bulk worker (10), for runs sharing the
    machine with the API."""
    import sys

    workers = []
    for index in range(count):
        cmd = [
            *(["nice", "-n", str(nice)] if nice else []),
            sys.executable,
            "-m",
            "bench.instrumented_worker",
            "-A",
            "config",
            "worker",
            "--pool",
            "prefork",
            "-c",
            str(concurrency),
            "-Q",
            "alerts,default,bulk,feedback",
            "-n",
            f"bench{index}@%h",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ]
        log = log_dir / f"worker{index}.log"
        workers.append((common.start(cmd, log=log), log))
    for proc, _log in workers:
        common.wait_until(lambda p=proc: len(common.children(p.pid)) >= concurrency, timeout=60, what="worker start")
    time.sleep(1.0)  # consumers attach to the broker after the pool forks
    return workers


def pg_counters() -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        )
        inserted, updated, deleted = cursor.fetchone()
    return {"inserted": inserted, "updated": updated, "deleted": deleted}


def prepare(n: int, *, endpoint: str, rate: float) -> int:
    from channels_app.models import Channel
    from core.redis import get_redis
    from subscribers.models import Topic

    common.truncate_app_tables()
    get_redis().flushdb()
    topic = Topic.objects.create(slug="bench", name="Bench")
    from bench import datagen

    datagen.subscribers(n, topic_id=topic.pk)
    Channel.objects.create(
        name="SES (emulator)",
        kind="email",
        is_default=True,
        rate_limit_per_second=rate,
        config={
            "esp": "amazon_ses",
            "from_email": "Bulletin <news@bench.example.com>",
            "endpoint_url": endpoint,
            "region": "us-east-1",
            "list_id": "bench.example.com",
        },
        credentials={"aws_access_key_id": "AKIABENCH", "aws_secret_access_key": "bench"},
    )
    return topic.pk


def run_send(topic_id: int, n: int, *, timeout: float) -> dict:
    send, started = run_send_started(topic_id)
    return wait_send(send, started, n, timeout=timeout)


def run_send_started(topic_id: int, send=None):
    """Start the bench's send (created here unless given); (send, the wall-clock time it started)."""
    from publishing.services.fanout import send_start

    send = send or send_created(topic_id)
    started = time.time()
    send_start(send=send)
    return send, started


def send_created(topic_id: int):
    from channels_app.models import Send
    from channels_app.services.sends import send_create

    send, _ = send_create(
        key=f"bench-{time.time_ns()}",
        kind=Send.Kind.NEWSLETTER,
        subject="bench",
        content=CONTENT,
        audience={"topic_ids": [topic_id], "frequencies": ["instant"], "channel_kinds": ["email"]},
    )
    return send


def wait_send(send, started: float, n: int, *, timeout: float) -> dict:
    """Wait for the send to complete: seconds from `started` to its last hand-off, and its states."""
    from django.db.models import Count, Max

    from channels_app.models import Delivery, Send

    def finished():
        send.refresh_from_db(fields=["status"])
        return send.status == Send.Status.COMPLETED

    common.wait_until(finished, timeout=timeout, interval=0.5, what=f"the send of {n} emails")
    last = Delivery.objects.filter(send=send).aggregate(last=Max("sent_at"))["last"].timestamp()
    states = dict(Delivery.objects.filter(send=send).values_list("state").annotate(n=Count("pk")).order_by())
    return {"seconds": last - started, "states": states}


def one_run(
    n: int,
    *,
    latency_ms: float,
    emulator_rate: float | None,
    channel_rate: float,
    workers: int,
    concurrency: int,
    log_dir,
) -> dict:
    from core.redis import get_redis

    emulator, endpoint = common.ses_emulator_start(latency_ms=latency_ms, rate=emulator_rate)
    try:
        topic_id = prepare(n, endpoint=endpoint, rate=channel_rate)
        procs = start_workers(workers, concurrency, log_dir)
        try:
            before = pg_counters()
            result = run_send(topic_id, n, timeout=max(600, n / 50))
            time.sleep(1.0)  # let PostgreSQL's statistics catch up
            after = pg_counters()
            rss = [
                round(common.peak_rss_mb(pid), 1) for proc, _ in procs for pid in [proc.pid, *common.children(proc.pid)]
            ]
        finally:
            for proc, _ in procs:
                common.stop(proc)
        stats = common.ses_emulator_stats(endpoint)
    finally:
        common.stop(emulator)
    redis = get_redis()
    sql, tasks = int(redis.get("bench:sql") or 0), int(redis.get("bench:tasks") or 0)
    rows = {k: after[k] - before[k] for k in after}
    return {
        "emails": n,
        "latency_ms": latency_ms,
        "emails_per_second": round(n / result["seconds"], 1),
        "seconds": round(result["seconds"], 2),
        "peak_rss_mb_per_worker_process": rss,
        "sql_statements_per_email": round(sql / n, 4),
        "db_rows_inserted_per_email": round(rows["inserted"] / n, 3),
        "db_rows_updated_per_email": round(rows["updated"] / n, 3),
        "broker_messages": tasks,
        "emails_per_broker_message": round(n / max(tasks, 1), 1),
        "accepted": stats["recipients_accepted"],
        "unique_accepted": stats["unique_recipients"],
        "duplicates": len(stats["duplicates"]),
        "throttled": stats["errors"].get("TooManyRequestsException", 0),
        "provider_requests": stats["requests"],
        "delivery_states": result["states"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--latencies", default="0,20")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rate-runs", default="14:420,500:15000", help="rate:recipients pairs; '' to skip")
    parser.add_argument(
        "--million",
        type=int,
        nargs="?",
        const=1_000_000,
        default=1_000_000 if os.environ.get("BENCH_FANOUT_MILLION") else 0,
        help="also send to this many subscribers (default 1,000,000) with the API probed; BENCH_FANOUT_MILLION=1",
    )
    args = parser.parse_args()

    common.django_setup()
    common.ensure_database()
    import tempfile
    from pathlib import Path

    log_dir = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    runs = {}
    for latency in [float(x) for x in args.latencies.split(",") if x]:
        run = one_run(
            args.subscribers,
            latency_ms=latency,
            emulator_rate=None,
            channel_rate=100_000,
            workers=args.workers,
            concurrency=args.concurrency,
            log_dir=log_dir,
        )
        runs[f"{latency:g}ms"] = run
        print(json.dumps({"run": f"{latency:g}ms", **run}), flush=True)
    rate_runs = {}
    for spec in [s for s in args.rate_runs.split(",") if s]:
        rate, n = float(spec.split(":")[0]), int(spec.split(":")[1])
        run = one_run(
            n,
            latency_ms=20,
            emulator_rate=rate,
            channel_rate=rate,
            workers=args.workers,
            concurrency=args.concurrency,
            log_dir=log_dir,
        )
        achieved = run["emails_per_second"]
        rate_runs[f"{rate:g}/s"] = {
            "allowed": rate,
            "achieved": achieved,
            "share": round(achieved / rate, 3),
            "lost": n - run["unique_accepted"],
            "duplicates": run["duplicates"],
            "throttled": run["throttled"],
        }
        print(json.dumps({"run": f"rate {rate:g}/s", **rate_runs[f"{rate:g}/s"]}), flush=True)
    million = None
    if args.million:
        from bench.fanout_million import million_run

        million = million_run(args.million, concurrency=args.concurrency, log_dir=log_dir)
        print(json.dumps({"run": "million", **million}), flush=True)
    headline = (
        runs.get("20ms") or next(iter(runs.values()), None) or {"emails_per_second": million["emails_per_second"]}
    )
    common.report(
        {
            "name": "fanout",
            "value": headline["emails_per_second"],
            "unit": "emails/s at 20 ms provider latency",
            "subscribers": args.subscribers,
            "emails_per_second_0ms": runs.get("0ms", {}).get("emails_per_second"),
            "every_recipient_exactly_once": all(
                r["unique_accepted"] == r["emails"] and not r["duplicates"] for r in runs.values()
            )
            and (
                million is None or (million["unique_accepted"] == million["subscribers"] and not million["duplicates"])
            ),
            "runs": runs,
            "rate_limited": rate_runs,
            "million": million,
            "logs": str(log_dir),
        }
    )


if __name__ == "__main__":
    main()
