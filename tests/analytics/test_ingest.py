"""The tracking buffer under load and under failure: nothing lost, nothing counted twice."""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connections
from django.db.models import Count

from analytics.links import click_url, open_url
from analytics.models import EngagementEvent
from analytics.services import ingest
from analytics.services.ingest import Hit, tracking_buffer_drain, tracking_buffer_length, tracking_hit_buffer

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


@pytest.fixture
def redis_buffer(settings, redis_client):
    settings.TRACKING_BUFFER = "redis"
    return redis_client


def _crash_once_after_commit(monkeypatch):
    """The next drain batch commits its events, then dies before acknowledging them."""
    real = ingest.tracking_hits_store
    crashed = threading.Event()

    def store_then_die(*, hits):
        result = real(hits=hits)
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("worker killed after commit, before XACK")
        return result

    monkeypatch.setattr(ingest, "tracking_hits_store", store_then_die)
    return crashed


@pytest.mark.django_db
def test_a_drain_that_dies_after_committing_is_replayed_without_double_counting(
    make_sent, redis_buffer, settings, monkeypatch
):
    deliveries = make_sent(5)
    for delivery in deliveries:
        for _ in range(3):
            tracking_hit_buffer(hit=Hit.new(kind="open", delivery_id=delivery.pk, user_agent=BROWSER, head=False))
    crashed = _crash_once_after_commit(monkeypatch)
    with pytest.raises(RuntimeError):
        tracking_buffer_drain()
    assert crashed.is_set() and EngagementEvent.objects.count() == 15
    assert redis_buffer.xpending(settings.TRACKING_STREAM_KEY, ingest.GROUP)["pending"] == 15

    settings.TRACKING_DRAIN_RECLAIM_IDLE_SECONDS = 0  # the dead drain's entries are claimed again
    result = tracking_buffer_drain()
    assert result.reclaimed == 15 and result.read == 15
    assert EngagementEvent.objects.count() == 15
    assert tracking_buffer_length() == 0


@pytest.mark.django_db
def test_a_drain_that_fails_before_committing_leaves_the_hits_in_the_buffer(make_sent, redis_buffer, monkeypatch):
    [delivery] = make_sent()
    tracking_hit_buffer(hit=Hit.new(kind="open", delivery_id=delivery.pk, user_agent=BROWSER, head=False))

    def database_down(*, hits):
        raise ingest.DatabaseError("database unavailable")

    monkeypatch.setattr(ingest, "tracking_hits_store", database_down)
    with pytest.raises(ingest.DatabaseError):
        tracking_buffer_drain()
    monkeypatch.undo()
    assert tracking_buffer_length() == 1
    assert not EngagementEvent.objects.exists()


@pytest.mark.django_db
def test_an_unreadable_entry_is_acknowledged_and_counted_invalid(make_sent, redis_buffer, settings):
    redis_buffer.xadd(settings.TRACKING_STREAM_KEY, {"h": b"not json"})
    result = tracking_buffer_drain()
    assert (result.read, result.invalid, result.stored) == (1, 1, 0)
    assert tracking_buffer_length() == 0


@pytest.mark.django_db
def test_only_one_drain_runs_at_a_time(redis_buffer, settings):
    lock = redis_buffer.lock(f"{settings.TRACKING_STREAM_KEY}:drain-lock", timeout=5)
    assert lock.acquire(blocking=False)
    try:
        assert tracking_buffer_drain().skipped
    finally:
        lock.release()


def _plan(deliveries, hits: int, seed: int = 7):
    """`hits` tracking URLs over the deliveries: 60% opens, 40% clicks on 2 links, some machines."""
    rng = random.Random(seed)
    plan = []
    for _ in range(hits):
        delivery = rng.choice(deliveries)
        agent = rng.choice([BROWSER, BROWSER, BROWSER, "Mozilla/5.0"])
        if rng.random() < 0.6:
            plan.append(("open", delivery.pk, open_url(delivery_id=delivery.pk), agent))
        else:
            link = rng.randrange(2)
            url = click_url(delivery_id=delivery.pk, link_index=link, send_id=delivery.send_id)
            plan.append(("click", delivery.pk, url, agent))
    return plan


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_10000_hits_loses_nothing_and_counts_nothing_twice(
    live_server, settings, make_sent, redis_buffer, monkeypatch
):
    settings.SITE_URL = live_server.url
    settings.TRACKING_DRAIN_RECLAIM_IDLE_SECONDS = 0.5
    deliveries = make_sent(300)
    plan = _plan(deliveries, 10_000)
    crashed = _crash_once_after_commit(monkeypatch)  # one drain dies mid-burst
    stop = threading.Event()

    def drain_like_beat():
        while not stop.is_set():
            with contextlib.suppress(RuntimeError):  # the injected crash
                tracking_buffer_drain(max_seconds=1)
            time.sleep(0.05)
        connections.close_all()

    drainer = threading.Thread(target=drain_like_beat)
    drainer.start()
    local = threading.local()

    def hit(item):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        response = session.get(item[2], headers={"User-Agent": item[3]}, allow_redirects=False, timeout=30)
        return response.status_code

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = Counter(pool.map(hit, plan))
    finally:
        stop.set()
        drainer.join()
    assert crashed.is_set()
    assert statuses == {200: sum(1 for p in plan if p[0] == "open"), 302: sum(1 for p in plan if p[0] == "click")}

    time.sleep(0.6)  # the crashed batch's entries become claimable
    tracking_buffer_drain()
    assert tracking_buffer_length() == 0
    assert redis_buffer.xpending(settings.TRACKING_STREAM_KEY, ingest.GROUP)["pending"] == 0
    expected = Counter((kind, delivery_id) for kind, delivery_id, _, _ in plan)
    stored = Counter(
        {
            (row["kind"], row["delivery_id"]): row["n"]
            for row in EngagementEvent.objects.values("kind", "delivery_id").annotate(n=Count("pk"))
        }
    )
    assert EngagementEvent.objects.count() == 10_000
    assert stored == expected
    machines = sum(1 for p in plan if p[3] == "Mozilla/5.0")
    assert EngagementEvent.objects.filter(is_machine=True).count() == machines
