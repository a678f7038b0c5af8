"""Celery tasks of analytics: thin wrappers around services (STYLE §5)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

INFRA_ERRORS = (OperationalError, RedisConnectionError)
_RETRY = {"autoretry_for": INFRA_ERRORS, "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 5}


@shared_task(acks_late=True, **_RETRY)
def tracking_buffer_drain_task() -> dict:
    from analytics.services.ingest import tracking_buffer_drain

    return tracking_buffer_drain().__dict__
