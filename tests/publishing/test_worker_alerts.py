"""Alerts through a REAL Celery worker process (solo pool, Redis broker) to the SES emulator.

The worker consumes only the `alerts` queue: an alert that touched any other queue would
never be delivered and the test would time out. It shares the test's PostgreSQL database."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from channels_app.models import Delivery, Send
from publishing.models import Publication
from publishing.services.publish import publication_publish
from publishing.tasks import publications_publish_due_task
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory
from tests.worker import celery_worker, drain, real_broker, require_real_services, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]
ROOT = Path(settings.BASE_DIR)


@pytest.fixture
def alerts_worker(tmp_path, redis_client):
    """One worker process, solo pool, consuming only the `alerts` queue."""
    require_real_services()
    with (
        real_broker(),
        celery_worker(
            name="alerts",
            pool="solo",
            queues="alerts",
            extra_args=["--without-heartbeat"],
            BULLETIN_VAR_DIR=str(tmp_path / "var"),
        ) as worker,
    ):
        yield worker


def _wait(predicate, what: str):
    return wait_for(predicate, timeout=60, what=what, interval=0.2)


def test_an_alert_goes_through_a_real_worker_on_the_alerts_queue_to_ses_once(
    alerts_worker, ses_emulator, ses_channel, topic, publisher
):
    readers = SubscriberFactory.create_batch(30)
    for reader in readers:
        SubscriptionFactory(subscriber=reader, topic=topic)
    alert = PublicationFactory(title="Rotate your keys", topics=[topic], priority=Publication.Priority.ALERT)

    started = time.monotonic()
    publication_publish(publication=alert, actor=publisher)
    _wait(lambda: ses_emulator.stats()["recipients_accepted"] >= 30, what="30 alert emails at SES")
    elapsed = time.monotonic() - started
    _wait(lambda: Send.objects.get(publication=alert).status == Send.Status.COMPLETED, what="the send to complete")

    publication_publish(publication=alert, actor=publisher)  # publishing twice
    drain("alerts")
    stats = ses_emulator.stats()
    assert stats["recipients_accepted"] == 30 and stats["duplicates"] == {}
    assert set(stats["by_recipient"]) == {r.email for r in readers}
    assert Delivery.objects.filter(state=Delivery.State.SENT).count() == 30
    message = ses_emulator.messages(to=readers[0].email)[0]
    assert message["subject"] == "Rotate your keys" and "List-Unsubscribe" in str(message["headers"])
    assert elapsed < 30, f"publish to provider took {elapsed:.1f}s"


def test_a_scheduled_alert_is_published_by_the_beat_task_on_a_real_worker(
    alerts_worker, ses_emulator, ses_channel, topic, publisher
):
    SubscriptionFactory(subscriber=SubscriberFactory(email="early@example.com"), topic=topic)
    alert = PublicationFactory(title="Maintenance at noon", topics=[topic], priority=Publication.Priority.ALERT)
    publication_publish(publication=alert, actor=publisher, publish_at=timezone.now() + timedelta(seconds=1))
    Publication.objects.filter(pk=alert.pk).update(publish_at=timezone.now() - timedelta(seconds=1))  # time passes
    for _ in range(2):  # two beat ticks in a row: it is published and sent once
        publications_publish_due_task.apply_async(queue="alerts")
    _wait(lambda: ses_emulator.stats()["recipients_accepted"] >= 1, what="the scheduled alert at SES")
    drain("alerts")
    alert.refresh_from_db()
    assert alert.state == Publication.State.PUBLISHED
    assert ses_emulator.stats()["recipients_accepted"] == 1
