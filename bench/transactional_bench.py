"""Transactional messages under load: latency from the API call to the provider's hand-off.

    make bench NAME=transactional   (BENCH_TX_RATE, BENCH_TX_SECONDS, BENCH_TX_WORKERS to change)

Real processes: gunicorn (config.settings.bench, BENCH_TX_WEB_WORKERS (3) sync workers),
BENCH_TX_WORKERS (2) Celery workers (threads pool, BENCH_TX_THREADS (8) each: a message's time is
mostly waiting on SES and PostgreSQL; consuming only the `alerts` queue) on Redis, and the SES v2
emulator (20 ms per call). This process sends `POST /api/v1/publishing/messages` at BENCH_TX_RATE (50) requests a
second for BENCH_TX_SECONDS (20), each with its own Idempotency-Key, from a pool of threads, on
a fixed schedule (a late answer does not delay the next call). A message's latency is its
`sent_at` (recorded when SES accepted it) minus the moment its request was sent.
Headline: p95 in ms (target < 1,000). Also the API's own answer time (p50/p95), and checks:
every request 202, every message sent exactly once at SES.
Own database (bulletin_bench_transactional) and Redis database (/6) unless the caller names others.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from bench import common

common.use_services(database="bulletin_bench_transactional", redis_db=6)
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


RATE = float(os.environ.get("BENCH_TX_RATE", "50"))
SECONDS = float(os.environ.get("BENCH_TX_SECONDS", "20"))
WORKERS = int(os.environ.get("BENCH_TX_WORKERS", "2"))
THREADS = int(os.environ.get("BENCH_TX_THREADS", "8"))
WEB_WORKERS = int(os.environ.get("BENCH_TX_WEB_WORKERS", "3"))
PORT = int(os.environ.get("BENCH_TX_PORT", "0")) or _free_port()
BIN = Path(sys.executable).parent


def _dataset(endpoint_url: str) -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from channels_app.models import Channel
    from publishing.services.transactional import message_template_create

    channel = Channel.objects.create(
        name="SES (emulator)",
        kind="email",
        rate_limit_per_second=5000,
        config={
            "esp": "amazon_ses",
            "from_email": "noreply@example.com",
            "endpoint_url": endpoint_url,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "bench", "aws_secret_access_key": "bench"},
    )
    message_template_create(
        actor=None,
        name="receipt",
        channel=channel,
        subject="Your order {{ data.order }}",
        body='Hello {{ subscriber.first_name|default:"there" }},\n\n**Total**: {{ data.total }}',
    )
    users = get_user_model().objects
    user = users.filter(username="bench-tx").first() or users.create_superuser("bench-tx", "tx@example.com", None)
    return Token.objects.get_or_create(user=user)[0].key


def _start(endpoint_url: str, folder: Path) -> list:
    server = common.start(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi", "-b", f"127.0.0.1:{PORT}",
         "-w", str(WEB_WORKERS), "--worker-class", "sync", "--log-level", "warning"],
        env={"DJANGO_SETTINGS_MODULE": "config.settings.bench"}, log=folder / "gunicorn.log",
    )  # fmt: skip
    worker = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "-c", str(THREADS),
              "--queues", "alerts",
              "--loglevel", "WARNING", "--without-mingle", "--without-gossip", "--without-heartbeat"]  # fmt: skip
    workers = [
        common.start([*worker, "-n", f"tx-bench-{i}@%h"], log=folder / f"worker-{i}.log") for i in range(WORKERS)
    ]
    return [server, *workers]


def _load(token: str, count: int, prefix: str) -> list[tuple[float, float, int, str]]:
    """(sent at epoch, answer seconds, status, message id) per request, on a fixed schedule."""
    import requests

    local = threading.local()
    url = f"http://127.0.0.1:{PORT}/api/v1/publishing/messages"
    started = time.monotonic() + 0.2

    def call(i: int):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        time.sleep(max(0.0, started + i / RATE - time.monotonic()))
        sent_at, t0 = time.time(), time.perf_counter()
        response = session.post(
            url,
            json={"template": "receipt", "to": f"r{prefix}{i}@example.com", "category": "account",
                  "data": {"order": f"{prefix}-{i}", "total": "42.00 EUR"}},
            headers={"Authorization": f"Token {token}", "Idempotency-Key": f"{prefix}-{i}"},
            timeout=30,
        )  # fmt: skip
        body = response.json() if response.status_code == 202 else {}
        return sent_at, time.perf_counter() - t0, response.status_code, body.get("id", "")

    with ThreadPoolExecutor(max_workers=32) as pool:
        return list(pool.map(call, range(count)))


def _up() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _quantile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def main() -> int:
    common.django_setup()
    common.ensure_database()
    common.truncate_app_tables()
    from core.redis import get_redis
    from publishing.transactional_models import Message

    get_redis().flushdb()  # this benchmark's own Redis database: a clean broker
    folder = Path(tempfile.mkdtemp(prefix="bench-transactional-"))
    ses, endpoint_url = common.ses_emulator_start(latency_ms=20)
    token = _dataset(endpoint_url)
    processes = _start(endpoint_url, folder)
    try:
        common.wait_until(_up, timeout=60, what="gunicorn")
        warm = _load(token, int(RATE * 2), "warm")  # connections, imports, SES clients
        common.wait_until(
            lambda: Message.objects.filter(state="sent").count() >= len(warm), timeout=120, what="warm-up sent"
        )
        count = int(RATE * SECONDS)
        results = _load(token, count, "run")
        ids = [r[3] for r in results if r[3]]
        common.wait_until(
            lambda: (
                Message.objects.filter(public_id__in=ids).exclude(state__in=["queued", "sending"]).count() >= len(ids)
            ),
            timeout=300,
            what=f"{len(ids)} messages handed to SES",
        )
        stats = common.ses_emulator_stats(endpoint_url)
    finally:
        for process in processes:
            common.stop(process)
        common.stop(ses)
        get_redis().flushdb()
    sent = dict(Message.objects.filter(public_id__in=ids, state="sent").values_list("public_id", "sent_at"))
    latencies = sorted(
        (sent[message_id] - datetime.fromtimestamp(at, tz=UTC)).total_seconds() * 1000
        for at, _, _, message_id in results
        if message_id in sent
    )
    answers = sorted(seconds * 1000 for _, seconds, _, _ in results)
    statuses = sorted({status for _, _, status, _ in results})
    expected = count + len(warm)
    ok = statuses == [202] and len(latencies) == count and stats.get("recipients_accepted") == expected
    common.report(
        {
            "name": "transactional",
            "value": round(_quantile(latencies, 95)) if latencies else None,
            "unit": "ms",
            "target": "p95 < 1,000 ms from API call to provider hand-off at 50 requests/s",
            "rate_per_second": RATE,
            "requests": count,
            "statuses": statuses,
            "sent": len(latencies),
            "p50_ms": round(statistics.median(latencies)) if latencies else None,
            "p99_ms": round(_quantile(latencies, 99)) if latencies else None,
            "max_ms": round(latencies[-1]) if latencies else None,
            "api_answer_p50_ms": round(statistics.median(answers), 1),
            "api_answer_p95_ms": round(_quantile(answers, 95), 1),
            "workers": WORKERS,
            "worker_threads": THREADS,
            "web_workers": WEB_WORKERS,
            "ses_latency_ms": 20,
            "ses_recipients_accepted": stats.get("recipients_accepted"),
            "ses_recipients_expected": expected,
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
