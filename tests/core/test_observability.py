"""Observability: /metrics and who may read it, request ids from the request into its tasks and
their log lines, the worker's exporter, and the operations watchdog's alerts."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from django.core import mail
from django.core.cache import cache

from channels_app.models import Channel, Delivery
from core.observability.collectors import PUBLISHED_AT_HEADER, beat_ran_key
from core.observability.logs import BulletinJsonFormatter, ContextFilter
from core.observability.ops import SWEEPER, ops_alerts_check
from core.periodic import periodic_tasks_sync
from core.roles import Role
from publishing.models import Publication
from tests.emulators.fixtures import SLACK_TOKEN
from tests.factories import ChannelFactory, DeliveryFactory, PublicationFactory
from tests.faults import RedisServer, broker_at, free_port
from tests.worker import celery_worker, require_real_services, wait_for

pytestmark = pytest.mark.django_db


def _metrics(client, **extra) -> str:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_metrics_are_served_to_loopback_and_to_the_token_and_refused_to_anyone_else(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    wrong = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 403
    right = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-secret")
    assert right.status_code == 200


def test_metrics_show_deliveries_by_channel_and_state_circuits_dead_letters_and_provider_calls(
    client, make_readers, topic, settings, django_capture_on_commit_callbacks, tmp_path
):
    from channels_app.services.sends import send_create
    from publishing.services.fanout import send_start
    from tests.channels_app.conftest import EMAIL_CONTENT

    settings.BULLETIN_OUTBOX_DIR = tmp_path
    channel = ChannelFactory(name="Mail", is_default=True, config={"esp": "outbox", "from_email": "n@example.com"})
    make_readers(3)
    send, _ = send_create(
        key="m",
        kind="newsletter",
        content=EMAIL_CONTENT,
        audience={"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["email"]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        send_start(send=send)
    DeliveryFactory(channel=channel, state=Delivery.State.DEAD)
    Channel.objects.filter(pk=channel.pk).update(circuit_state="open")
    text = _metrics(client, REMOTE_ADDR="127.0.0.1")
    assert 'bulletin_deliveries{channel="Mail",state="sent"} 3.0' in text
    assert "bulletin_dead_letters 1.0" in text
    assert 'bulletin_circuit_state{channel="Mail"} 2.0' in text
    assert 'bulletin_provider_calls_total{kind="email",outcome="ok"}' in text
    assert 'bulletin_deliveries_recorded_total{kind="email",outcome="sent"}' in text
    assert "bulletin_http_request_duration_seconds_bucket" in text


def test_a_request_id_is_returned_and_a_plain_one_from_the_caller_is_kept(client):
    mine = client.get("/health", HTTP_X_REQUEST_ID="req-abc.123")
    assert mine["X-Request-ID"] == "req-abc.123"
    odd = client.get("/health", HTTP_X_REQUEST_ID="<script>" + "x" * 100)
    assert odd["X-Request-ID"] != "<script>" + "x" * 100 and len(odd["X-Request-ID"]) == 32


def test_json_log_lines_carry_the_request_id_and_task_id():
    from core.observability import context

    record = logging.LogRecord("bulletin", logging.WARNING, __file__, 1, "sent %s", ("x",), None)
    token = context.request_id.set("req-42")
    try:
        ContextFilter().filter(record)
    finally:
        context.request_id.reset(token)
    line = json.loads(BulletinJsonFormatter().format(record))
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "WARNING",
        "bulletin",
        "sent x",
        "req-42",
    )


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_request_id_travels_from_the_api_call_into_the_task_and_its_log_lines(client_for, topic, redis_client):
    require_real_services()
    publication = PublicationFactory(title="Traced", topics=[topic], priority=Publication.Priority.ALERT)
    client = client_for(Role.PUBLISHER)
    with RedisServer() as broker, broker_at(broker.url()):
        response = client.post(
            f"/api/v1/publishing/publications/{publication.pk}/publish",
            {},
            format="json",
            HTTP_X_REQUEST_ID="req-trace-1",
        )
        assert response.status_code == 200, response.content
        import redis as redis_py

        [raw] = redis_py.Redis(port=broker.port).lrange("alerts", 0, -1)
        headers = json.loads(raw)["headers"]
        assert headers["bulletin_request_id"] == "req-trace-1" and headers[PUBLISHED_AT_HEADER] > 0
        # No channel is configured: the fan-out task logs a warning per kind, inside the task.
        with celery_worker(name="traced", queues="alerts", CELERY_BROKER_URL=broker.url(), LOG_FORMAT="json") as worker:
            wait_for(lambda: "no active default" in worker.output(), timeout=60, what="the fan-out's warning")
            lines = [json.loads(line) for line in worker.output().splitlines() if "no active default" in line]
    assert lines and all(line["request_id"] == "req-trace-1" and line["task_id"] for line in lines)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_serves_its_own_metrics_on_its_exporter_port(redis_client, topic):
    require_real_services()
    from tests.worker import drain, real_broker

    port = free_port()
    with (
        real_broker(),
        celery_worker(name="exporter", WORKER_METRICS_PORT=str(port), WORKER_METRICS_ADDRESS="127.0.0.1"),
    ):
        drain("default")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
    assert 'bulletin_task_duration_seconds_count{task="core.tasks.queue_probe_task"}' in text


@pytest.fixture
def alert_channel(settings, slack_emulator):
    ChannelFactory(
        name="Ops alerts",
        kind="slack",
        audience=Channel.Audience.BROADCAST,
        config={"channel": "C0123456789", "base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )
    settings.GUARD_ALERT_CHANNEL = "Ops alerts"
    settings.GUARD_ALERT_EMAILS = ["ops@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return slack_emulator


def test_dead_letters_growing_past_the_threshold_alert_once(alert_channel, settings):
    settings.OPS_ALERT_DEAD_LETTERS_GROWTH = 3
    assert ops_alerts_check() == []  # the first check notes the level
    DeliveryFactory.create_batch(3, state=Delivery.State.DEAD)
    [text] = ops_alerts_check()
    assert "Dead letters grew from 0 to 3" in text
    assert "Dead letters grew" in alert_channel.messages(channel="C0123456789")[0]["text"]
    DeliveryFactory.create_batch(3, state=Delivery.State.DEAD)
    assert ops_alerts_check() == [], "one alert per problem per OPS_ALERT_REPEAT_SECONDS"


def test_a_late_beat_is_alerted_from_the_last_time_the_sweeper_ran(alert_channel, clock):
    periodic_tasks_sync()
    cache.set(beat_ran_key(SWEEPER), clock.time())
    assert ops_alerts_check() == []
    clock.advance(200)
    [text] = ops_alerts_check()
    assert text.startswith("Beat is 195 s late")
    assert mail.outbox[0].to == ["ops@example.com"]


def test_a_queue_whose_oldest_message_waits_too_long_is_alerted(alert_channel, settings, clock):
    require_real_services()
    from core.tasks import queue_probe_task

    with RedisServer() as broker, broker_at(broker.url()):
        settings.CELERY_BROKER_URL = broker.url()
        queue_probe_task.apply_async(kwargs={"key": "stuck"}, queue="bulk")
        assert ops_alerts_check() == []
        clock.advance(settings.OPS_ALERT_QUEUE_AGE_SECONDS + 10)
        [text] = ops_alerts_check()
    assert text.startswith("The bulk queue's oldest message has waited 310 s (1 waiting)")


def test_the_shipped_dashboard_and_alert_rules_use_only_metrics_bulletin_exports(client):
    import re
    from pathlib import Path

    import yaml
    from django.conf import settings

    from core.health import HEARTBEAT_CACHE_KEY

    cache.set(HEARTBEAT_CACHE_KEY, 0)  # the heartbeat gauge shows once a worker ran it
    deploy = Path(settings.BASE_DIR, "deploy")
    rules = yaml.safe_load((deploy / "prometheus" / "alerts.yml").read_text())
    assert all(rule["expr"] for group in rules["groups"] for rule in group["rules"])
    dashboard = json.loads((deploy / "grafana" / "bulletin.json").read_text())
    used = set(re.findall(r"bulletin_[a-z_]+", json.dumps(dashboard) + json.dumps(rules)))
    exported = set(re.findall(r"^# TYPE (bulletin_[a-z_]+) ", _metrics(client, REMOTE_ADDR="127.0.0.1"), re.M))
    suffixes = ("_bucket", "_count", "_sum", "_total")
    known = {name for name in used if name in exported or any(name.removesuffix(s) in exported for s in suffixes)}
    unknown = used - known
    assert unknown <= {"bulletin_overview"}, unknown
