import time

import pytest
from django.core.cache import cache

from core.health import HEARTBEAT_CACHE_KEY, PROCESS_STARTED_AT, check_worker
from core.services import worker_heartbeat_record

pytestmark = pytest.mark.django_db


def test_liveness_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_passes_when_every_dependency_answers(client):
    worker_heartbeat_record()
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "broker", "redis", "worker"}


def test_readiness_is_503_and_names_the_broker_when_it_is_down(client, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["broker"]
    assert "error" in body["checks"]["broker"]


def test_readiness_is_503_and_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "redis" in response.json()["failed"]


def test_readiness_reports_the_worker_heartbeat(client, settings):
    cache.delete(HEARTBEAT_CACHE_KEY)
    settings.HEALTH_REQUIRE_WORKER = True
    settings.WORKER_HEARTBEAT_GRACE_SECONDS = 0
    assert client.get("/health/ready").json()["failed"] == ["worker"]
    worker_heartbeat_record()
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["worker"]["heartbeat_age_seconds"] < 5


def test_readiness_is_503_once_the_grace_period_passed_without_any_heartbeat(client, settings):
    settings.WORKER_HEARTBEAT_GRACE_SECONDS = 0  # the process started before the grace ended
    response = client.get("/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert body["failed"] == ["worker"]
    assert body["checks"]["worker"]["heartbeat_age_seconds"] is None
    assert "no worker heartbeat" in body["checks"]["worker"]["error"]


def test_readiness_waits_for_the_first_heartbeat_during_the_grace_period(client, settings):
    settings.WORKER_HEARTBEAT_GRACE_SECONDS = 24 * 3600
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert "not ready in" in response.json()["checks"]["worker"]["warning"]


def test_the_grace_period_counts_from_the_process_start(settings):
    settings.WORKER_HEARTBEAT_GRACE_SECONDS = 300
    assert check_worker(now=PROCESS_STARTED_AT + 299)["ok"] is True
    assert check_worker(now=PROCESS_STARTED_AT + 301)["ok"] is False
    cache.set(HEARTBEAT_CACHE_KEY, PROCESS_STARTED_AT + 250)
    assert check_worker(now=PROCESS_STARTED_AT + 301) == {"ok": True, "heartbeat_age_seconds": 51.0}


def test_a_stale_heartbeat_fails_readiness_only_when_workers_are_required(client, settings):
    settings.WORKER_HEARTBEAT_GRACE_SECONDS = 0
    cache.set(HEARTBEAT_CACHE_KEY, time.time() - settings.WORKER_HEARTBEAT_MAX_AGE - 60)
    settings.HEALTH_REQUIRE_WORKER = False
    response = client.get("/health/ready")
    assert response.status_code == 200 and "warning" in response.json()["checks"]["worker"]
    settings.HEALTH_REQUIRE_WORKER = True
    assert client.get("/health/ready").status_code == 503
