"""Celery tasks of publishing: thin wrappers around services (STYLE §5)."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def send_materialize_task(*, send_id: int) -> int:
    from publishing.services.fanout import send_materialize

    return send_materialize(send_id=send_id)


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def sends_fanout_recover_task() -> int:
    from publishing.services.fanout import sends_fanout_recover

    return sends_fanout_recover()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def publications_publish_due_task() -> int:
    from publishing.services.publish import publications_publish_due

    return publications_publish_due()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def digests_run_task() -> dict:
    from publishing.services.digests import digests_run

    outcome = digests_run()
    return {"due": outcome.due, "sent": outcome.sent, "empty": outcome.empty, "skipped": outcome.skipped}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def abtests_decide_due_task() -> int:
    from publishing.services.abtests import abtests_decide_due

    return abtests_decide_due()


@shared_task(bind=True, acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=8)
def message_send_task(self, *, message_id: int) -> str:
    """One transactional message (routed to the alerts queue). Transient provider errors retry."""
    from publishing.services.transactional import MessageRetry, message_send

    try:
        message = message_send(message_id=message_id)
    except MessageRetry as exc:  # queued again: try later, backing off (2 s, 4 s, ... 256 s)
        raise self.retry(exc=exc, countdown=2 ** min(self.request.retries + 1, 8)) from exc
    return message.state if message else "skipped"


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def messages_recover_task() -> dict:
    from publishing.services.transactional import messages_recover

    return messages_recover()


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def automations_advance_task() -> dict:
    from publishing.services.automations.advance import automations_advance

    result = automations_advance()
    return {"claimed": result.claimed, "sent": result.sent, "completed": result.completed, "exited": result.exited}


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=3)
def automations_scan_triggers_task() -> int:
    from publishing.services.automations.enroll import automations_scan_triggers

    return automations_scan_triggers()
