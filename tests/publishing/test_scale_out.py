"""Scale-out: workers on separate machines (hostnames) and queues, plus a second beat started
by mistake, still deliver each message exactly once and schedule each periodic task once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from channels_app.models import Send
from publishing.models import Publication
from publishing.services.publish import publication_publish
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory
from tests.worker import celery_worker, real_broker, require_real_services, wait_for, worker_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _beat(name: str) -> tuple[subprocess.Popen, Path]:
    log = Path(tempfile.mkstemp(prefix=f"beat-{name}-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "beat", "--max-interval", "1", "--loglevel", "WARNING"],
        cwd=settings.BASE_DIR,
        env=worker_env(BEAT_LEADER_TTL_SECONDS="3"),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)


def _ticks() -> int:
    return cache.get("bulletin:queue-probe-count:beat-tick") or 0


def test_a_second_beat_stands_by_and_takes_over_only_when_the_leader_stops(redis_client):
    require_real_services()
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="tick",
        task="core.tasks.queue_probe_task",
        interval=every_second,
        kwargs='{"key": "beat-tick"}',
        queue="default",
    )
    with celery_worker(name="ticker", queues="default"):
        first, first_log = _beat("a")
        second, second_log = _beat("b")
        try:
            wait_for(lambda: _ticks() >= 2, timeout=60, what="the first ticks")
            start, started = _ticks(), time.monotonic()
            time.sleep(6)  # a window in which two schedulers would send twice per second
            rate = (_ticks() - start) / (time.monotonic() - started)
            assert rate <= 1.5, f"{rate:.1f} ticks/s for a 1/s schedule: two beats scheduled"
            leader, standby = (first, second) if "now the leader" in first_log.read_text() else (second, first)
            _stop(leader, signal.SIGKILL)
            before = _ticks()
            wait_for(lambda: _ticks() >= before + 2, timeout=30, what="the standby to take over")
        finally:
            _stop(first)
            _stop(second)
    logs = first_log.read_text() + second_log.read_text()
    assert "standing by" in logs, "the second beat started as a standby"
    assert logs.count("now the leader") == 2, "the first leader, then the standby when the leader died"


def test_workers_on_separate_hosts_and_queues_deliver_each_message_exactly_once(
    redis_client, ses_emulator, ses_channel, topic, publisher
):
    require_real_services()
    readers = SubscriberFactory.create_batch(60)
    for reader in readers:
        SubscriptionFactory(subscriber=reader, topic=topic)
    alert = PublicationFactory(title="Alert", topics=[topic], priority=Publication.Priority.ALERT)
    newsletter = PublicationFactory(title="Newsletter", topics=[topic])
    with (
        real_broker(),
        celery_worker(name="alerts", queues="alerts"),
        celery_worker(name="bulk", queues="bulk,default,feedback"),
    ):
        publication_publish(publication=alert, actor=publisher)
        publication_publish(publication=newsletter, actor=publisher)

        def completed() -> bool:
            return Send.objects.filter(status=Send.Status.COMPLETED).count() == 2

        wait_for(completed, timeout=120, what="both sends to complete")
    stats = ses_emulator.stats()
    assert stats["recipients_accepted"] == 120
    assert all(count == 2 for count in stats["by_recipient"].values()), "each reader: one alert, one newsletter"
