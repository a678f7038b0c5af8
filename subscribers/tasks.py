from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=5, retry_jitter=True, max_retries=5)
def subscriber_message_send_task(*, subscriber_id: int, kind: str, topic_ids: list[int] | None = None) -> None:
    """Confirmation, "already subscribed" and fresh-link emails (SMTP/ESP hiccups are retried)."""
    from subscribers.services import subscriber_message_send

    subscriber_message_send(subscriber_id=subscriber_id, kind=kind, topic_ids=topic_ids or ())


@shared_task(ignore_result=True, queue="bulk")
def subscribers_import_task(*, job_id: int) -> None:
    """Import one uploaded CSV; progress and outcome are on the ImportJob row."""
    from subscribers.services import subscribers_import

    subscribers_import(job_id=job_id)
