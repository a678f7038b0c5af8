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


@shared_task(acks_late=True, **_RETRY)
def provider_notification_process_task(*, notification_id: int) -> str:
    from analytics.services.feedback import provider_notification_process

    return provider_notification_process(notification_id=notification_id).status


@shared_task(acks_late=True, **_RETRY)
def provider_notifications_retry_task() -> int:
    from analytics.services.feedback import provider_notifications_retry

    return provider_notifications_retry()


@shared_task(acks_late=True, **_RETRY)
def guard_sends_check_task(*, send_ids: list[int]) -> int:
    from analytics.services.guard import guard_sends_check

    return len(guard_sends_check(send_ids=send_ids))


@shared_task(acks_late=True, **_RETRY)
def rollups_update_task() -> dict:
    from analytics.services.rollups import rollups_update

    return rollups_update().__dict__


@shared_task(acks_late=True, **_RETRY)
def guard_channels_check_task() -> int:
    from analytics.services.guard import guard_channels_check

    return len(guard_channels_check())


@shared_task(acks_late=True, **_RETRY)
def partitions_maintain_task() -> dict:
    from analytics.services.partitions import partitions_maintain

    return partitions_maintain()


@shared_task(acks_late=True, **_RETRY)
def events_purge_task() -> int:
    from analytics.services.rollups import events_purge

    return events_purge()


@shared_task(acks_late=True, **_RETRY)
def sunset_apply_task() -> dict:
    from analytics.services.sunset import sunset_apply

    return sunset_apply().__dict__


@shared_task(acks_late=True, **_RETRY)
def reengage_message_send_task(*, subscriber_id: int) -> bool:
    from analytics.services.sunset import reengage_message_send

    return reengage_message_send(subscriber_id=subscriber_id)


@shared_task(acks_late=True, **_RETRY)
def engagement_scores_update_task() -> int:
    from analytics.services.engagement import engagement_scores_update

    return engagement_scores_update()
