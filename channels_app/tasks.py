"""Celery tasks of the send pipeline: thin wrappers around services (STYLE §5).

Set for no loss (settings): late acks, reject on worker loss, prefetch 1. Provider failures
are retried per delivery in the database, not by Celery; Celery retries only when our own
infrastructure (database, Redis) hiccups.
"""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

INFRA_ERRORS = (OperationalError, RedisConnectionError)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def delivery_batch_send_task(self, *, channel_id: int, delivery_ids: list[int]) -> dict:
    from channels_app.services.pipeline import delivery_batch_send_and_follow_up

    return delivery_batch_send_and_follow_up(channel_id=channel_id, delivery_ids=delivery_ids)


@shared_task(acks_late=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, max_retries=3)
def deliveries_sweep_task() -> dict:
    from channels_app.services.sweeper import deliveries_sweep

    return deliveries_sweep().__dict__


@shared_task(acks_late=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, max_retries=3)
def delivery_counts_compact_task() -> dict:
    from channels_app.services.counts import delivery_counts_compact

    return delivery_counts_compact()


@shared_task(acks_late=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, max_retries=5)
def event_deliveries_send_task(*, endpoint_id: int) -> int:
    from channels_app.services.event_delivery import event_deliveries_drain

    return event_deliveries_drain(endpoint_id=endpoint_id)


@shared_task(acks_late=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, max_retries=3)
def event_deliveries_sweep_task() -> dict:
    from channels_app.services.event_delivery import event_deliveries_sweep

    return event_deliveries_sweep()


@shared_task(acks_late=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, max_retries=3)
def domain_health_refresh_task() -> dict:
    from channels_app.services.domain_health import domain_health_refresh_all

    return {h.domain: h.status for h in domain_health_refresh_all()}
