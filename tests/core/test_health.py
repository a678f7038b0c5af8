import pytest
from django.core.cache import cache

from core.health import HEARTBEAT_CACHE_KEY
from core.services import worker_heartbeat_record

pytestmark = pytest.mark.django_db


def test_liveness_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_passes_when_every_dependency_answers(client):
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
    assert client.get("/health/ready").json()["failed"] == ["worker"]
    worker_heartbeat_record()
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["worker"]["heartbeat_age_seconds"] < 5
