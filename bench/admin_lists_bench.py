"""Admin lists at a million subscribers: how long the subscriber and delivery list pages and the
landing dashboard take, and proof that none of them counts a whole table.

    make bench NAME=admin_lists      (BENCH_ADMIN_SUBSCRIBERS to change the size)

Data (fixed seed, PostgreSQL COPY, built once and reused while its size matches): 1,000,000
active subscribers following topic `news` by email, one newsletter with a delivery to each
(1,000,000 deliveries, 0.1% dead), then ANALYZE (autovacuum does it in production).

Each page is fetched through Django's test client as a superuser (the whole admin stack, no
network): once to warm up, then ten times; p50 and p95 in ms. Pages: the subscriber list (first
page, page 500, filtered by status, searched by a whole email), the delivery list (first page,
dead only, searched by provider message id) and the admin index with its dashboard. Every SQL
statement is captured: a `SELECT COUNT(*) ... FROM` either table without a LIMIT inside fails
the run. Headline: the slowest page's p95 (target < 300 ms, the API's). For scale: the COUNT(*)
Django's default changelist would run on every subscriber list page, timed on its own.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench import common

common.use_services(database="bulletin_bench_admin_lists", redis_db=9)

SUBSCRIBERS = int(os.environ.get("BENCH_ADMIN_SUBSCRIBERS", "1000000"))
SEED = 20261126
RUNS = 10
FULL_COUNT = re.compile(r'SELECT COUNT\(\*\) AS "__count" FROM "(subscribers_subscriber|channels_app_delivery)"')


def _dataset() -> float:
    from bench import datagen
    from bench.common import truncate_app_tables
    from channels_app.models import Channel, Delivery, Send
    from subscribers.models import Subscriber, Topic

    if Subscriber.objects.filter(source="bench").count() == SUBSCRIBERS and Delivery.objects.count() == SUBSCRIBERS:
        print(f"reusing the dataset of {SUBSCRIBERS:,} subscribers", flush=True)
        _finish()
        return 0.0
    started = time.perf_counter()
    truncate_app_tables()
    news = Topic.objects.create(slug="news", name="News")
    print(f"COPY {SUBSCRIBERS:,} subscribers…", flush=True)
    datagen.subscribers(SUBSCRIBERS, topic_id=news.pk, seed=SEED)
    channel = Channel.objects.create(
        name="Bench email", kind="email", is_default=True, config={"esp": "outbox", "from_email": "b@example.com"}
    )
    send = Send.objects.create(key="bench-admin-lists", kind="newsletter", status="completed", subject="Bench")
    print(f"INSERT {SUBSCRIBERS:,} deliveries…", flush=True)
    datagen.deliveries_for(send_id=send.pk, channel_id=channel.pk, seed=SEED)
    _finish()
    return round(time.perf_counter() - started, 1)


def _finish() -> None:
    """0.1% of the deliveries dead, and the planner's statistics (autovacuum's job in production)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("UPDATE channels_app_delivery SET state = 'dead' WHERE id %% 1000 = 0 AND state <> 'dead'", [])
        cursor.execute("ANALYZE subscribers_subscriber")
        cursor.execute("ANALYZE channels_app_delivery")


def _page(client, url: str) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm up
    times, full_counts, queries = [], [], 0
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
        full_counts += [q["sql"] for q in captured.captured_queries if FULL_COUNT.search(q["sql"])]
        queries = len(captured.captured_queries)
    times.sort()
    return {
        "url": url,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "queries": queries,
        "full_table_counts": len(full_counts),
    }


def main() -> int:
    from bench.common import django_setup, ensure_database, report

    django_setup()
    ensure_database()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client, override_settings

    from subscribers.models import Subscriber

    built = _dataset()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    email = Subscriber.objects.order_by("id").values_list("email", flat=True)[SUBSCRIBERS // 2]
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    urls = [
        "/admin/subscribers/subscriber/",
        "/admin/subscribers/subscriber/?p=500",
        "/admin/subscribers/subscriber/?status__exact=active",
        f"/admin/subscribers/subscriber/?created_at__gte={since}",
        f"/admin/subscribers/subscriber/?q={email}",
        "/admin/channels_app/delivery/",
        "/admin/channels_app/delivery/?state__exact=dead",
        "/admin/channels_app/delivery/?q=bench-4242",
        "/admin/channels_app/deadletter/",
        "/admin/",
    ]
    pages = []
    # Pages link their CSS through staticfiles; no collectstatic here, so plain names (as in tests).
    plain = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    for url in urls:
        with override_settings(STORAGES=plain):
            result = _page(client, url)
        pages.append(result)
        print(f"{url}: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, {result['queries']} queries", flush=True)
    started = time.perf_counter()
    Subscriber.objects.count()
    default_count_ms = round((time.perf_counter() - started) * 1000, 1)
    slowest = max(pages, key=lambda p: p["p95_ms"])
    full_counts = sum(p["full_table_counts"] for p in pages)
    report(
        {
            "name": "admin_lists",
            "value": slowest["p95_ms"],
            "unit": "ms (slowest admin page p95)",
            "target_ms": 300,
            "slowest": slowest["url"],
            "subscribers": SUBSCRIBERS,
            "full_table_counts": full_counts,
            "django_default_count_ms": default_count_ms,
            "pages": pages,
            "dataset_built_s": built,
        }
    )
    return 0 if full_counts == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
