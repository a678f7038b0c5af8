"""The DRF API under load: gunicorn with production behaviour (config.settings.bench, DEBUG off)
on PostgreSQL with 100,000 subscribers and 1,000,000 engagement events, driven by wrk on
loopback, beside an empty Django view served the same way in the same run.

Endpoints: subscribers (filtered by status and topic; pages 1 to 120, reached through cursors), a
publication with its delivery counts and engagement, and the engagement analytics over 30
days. Per endpoint: p50/p95/p99 and requests/s; each endpoint is measured in rounds
alternating with the empty view, so both see the same machine.

    value   worst endpoint p95 minus the empty view's p95, in ms (target <= 40; and every p95 < 300 ms)

    python -m bench.api_bench   (BENCH_API_SECONDS, BENCH_API_CONNECTIONS, BENCH_API_WORKERS, BENCH_API_ROUNDS)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import common  # noqa: E402
from bench.wrk import wrk_ensure, wrk_run  # noqa: E402

common.use_services(database="bulletin_bench_api", redis_db=12)

SUBSCRIBERS = int(os.environ.get("BENCH_API_SUBSCRIBERS", "100000"))
EVENTS = int(os.environ.get("BENCH_API_EVENTS", "1000000"))
SECONDS = int(os.environ.get("BENCH_API_SECONDS", "8"))
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "2"))
# One connection per gunicorn worker: every worker busy, none queueing behind another request,
# so p95 is the service time under full load rather than the length of gunicorn's backlog.
CONNECTIONS = int(os.environ.get("BENCH_API_CONNECTIONS", "4"))
WORKERS = int(os.environ.get("BENCH_API_WORKERS", "4"))
PORT = int(os.environ.get("BENCH_API_PORT", "8766"))
BIN = Path(sys.executable).parent


def dataset() -> dict:
    """Build the dataset once (fixed seed); later runs find it and reuse it."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from analytics.models import EngagementEvent
    from channels_app.models import Channel, Send
    from publishing.models import Publication
    from subscribers.models import Topic

    complete = EngagementEvent.objects.count() >= EVENTS and Publication.objects.filter(slug="bench-api").exists()
    if not complete:
        _build()
    user, _ = get_user_model().objects.get_or_create(username="bench-api", defaults={"is_superuser": True})
    token, _ = Token.objects.get_or_create(user=user)
    return {
        "token": token.key,
        "topic": Topic.objects.get(slug="bench").slug,
        "publication": Publication.objects.get(slug="bench-api").pk,
        "send": Send.objects.get(key="bench-api").pk,
        "channel": Channel.objects.get(name="Bench SES").pk,
    }


def _build() -> None:
    from django.utils import timezone

    from analytics.services.rollups import rollups_update
    from bench import datagen
    from channels_app.models import Channel, Send
    from publishing.models import Publication
    from subscribers.models import Topic

    common.truncate_app_tables()
    started = time.monotonic()
    topic = Topic.objects.create(slug="bench", name="Bench")
    datagen.subscribers(SUBSCRIBERS, topic_id=topic.pk)
    channel = Channel.objects.create(
        name="Bench SES",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "news@bench.example.com"},
    )
    publication = Publication.objects.create(
        title="Bench API",
        slug="bench-api",
        state="published",
        published_at=timezone.now() - timedelta(days=30),
        body="# Bench",
    )
    publication.topics.set([topic])
    send = Send.objects.create(
        key="bench-api",
        kind="newsletter",
        status="completed",
        audience_ready=True,
        publication=publication,
        audience_size=SUBSCRIBERS,
    )
    datagen.deliveries_for(send_id=send.pk, channel_id=channel.pk)
    datagen.events(EVENTS, send_id=send.pk, channel_id=channel.pk)
    while rollups_update(max_cells=5000).cells:
        pass
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(json.dumps({"dataset_built_seconds": round(time.monotonic() - started, 1)}), flush=True)


def endpoints(data: dict) -> dict[str, list[str]]:
    end = datetime.now(UTC).date()
    start = end - timedelta(days=29)
    base = "/api/v1/publishing"
    return {
        "empty_view": ["/bench/empty"],
        # Expanded by _cursor_pages: pages 1, 7, 40 and 120, reached by following `next`.
        "subscribers_list": [f"{base}/subscribers?status=active&topic={data['topic']}&page_size=50"],
        "publication_retrieve": [f"{base}/publications/{data['publication']}"],
        "analytics_engagement": [
            f"{base}/analytics/engagement?start_date={start}&end_date={end}",
            f"{base}/analytics/engagement?start_date={start}&end_date={end}"
            f"&channels={data['channel']}&metrics=sent,unique_opens,clicks",
        ],
    }


def _wrk(wrk: str, paths: Path, token: str, seconds: int = SECONDS) -> dict:
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    return wrk_run(wrk, port=PORT, paths=paths, seconds=seconds, connections=CONNECTIONS, headers=headers)


def _check(url: str, token: str) -> dict:
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{url}", headers={"Authorization": f"Token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}")
        body = response.read()
        return json.loads(body) if response.headers.get_content_type() == "application/json" else {}


def _cursor_pages(first: str, token: str, pages: tuple[int, ...] = (1, 7, 40, 120)) -> list[str]:
    """The URLs of these pages of a cursor-paginated list, found by following `next` links."""
    from urllib.parse import urlsplit

    found, url = [], first
    for number in range(1, max(pages) + 1):
        if number in pages:
            found.append(url)
        following = _check(url, token).get("next")
        if not following:
            raise SystemExit(f"{first} has fewer than {max(pages)} pages")
        parts = urlsplit(following)
        url = f"{parts.path}?{parts.query}"
    return found


def main() -> int:
    common.django_setup()
    common.ensure_database()
    data = dataset()
    wrk = wrk_ensure()
    folder = Path(tempfile.mkdtemp(prefix="bench-api-"))
    server = common.start(
        [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi", "-b", f"127.0.0.1:{PORT}",
         "-w", str(WORKERS), "--worker-class", "sync",
         "--log-level", "warning"],
        env={"DJANGO_SETTINGS_MODULE": "config.settings.bench"}, log=folder / "gunicorn.log",
    )  # fmt: skip
    try:
        common.wait_until(lambda: _up(), timeout=60, what="gunicorn")
        files = {}
        for name, urls in endpoints(data).items():
            if name == "subscribers_list":
                urls = _cursor_pages(urls[0], data["token"])
            for url in urls:
                _check(url, data["token"])  # a 4xx/5xx would make the numbers meaningless
            files[name] = folder / f"{name}.txt"
            files[name].write_text("\n".join(urls) + "\n")
        runs: dict[str, list[dict]] = {name: [] for name in files}
        for name in files:  # warm every worker (imports, connections, caches) on every endpoint
            _wrk(wrk, files[name], data["token"], seconds=3)
        for _ in range(ROUNDS):
            for name in files:
                if name == "empty_view":
                    continue
                runs["empty_view"].append(_wrk(wrk, files["empty_view"], data["token"]))
                runs[name].append(_wrk(wrk, files[name], data["token"]))
    finally:
        common.stop(server)
    summary = {name: _summary(results) for name, results in runs.items()}
    empty_p95 = summary["empty_view"]["p95_ms"]
    endpoints_only = {k: v for k, v in summary.items() if k != "empty_view"}
    worst = max(endpoints_only, key=lambda k: endpoints_only[k]["p95_ms"])
    common.report(
        {
            "name": "api",
            "value": round(endpoints_only[worst]["p95_ms"] - empty_p95, 1),
            "unit": "ms (worst endpoint p95 minus empty view p95)",
            "worst_endpoint": worst,
            "all_p95_under_300ms": all(v["p95_ms"] < 300 for v in endpoints_only.values()),
            "endpoints": summary,
            "subscribers": SUBSCRIBERS,
            "events": EVENTS,
            "gunicorn_workers": WORKERS,
            "connections": CONNECTIONS,
            "seconds_per_run": SECONDS,
            "rounds": ROUNDS,
        }
    )
    failed = {name: v["errors"] for name, v in summary.items() if v["errors"]}
    if failed:  # non-2xx answers or socket errors: the latencies above are not of real responses
        print(f"errors during the runs: {failed}", file=sys.stderr)
        return 1
    return 0


def _up() -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _summary(results: list[dict]) -> dict:
    return {
        "requests_per_second": round(statistics.median(r["requests_per_second"] for r in results), 1),
        "p50_ms": round(statistics.median(r["p50_ms"] for r in results), 2),
        "p95_ms": round(statistics.median(r["p95_ms"] for r in results), 2),
        "p99_ms": round(statistics.median(r["p99_ms"] for r in results), 2),
        "errors": sum(r["errors"] for r in results),
        "runs": len(results),
    }


if __name__ == "__main__":
    sys.exit(main())
