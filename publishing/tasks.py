from __future__ import annotations

from celery import shared_task
from django.db import OperationalError


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=2, max_retries=5)
def send_materialize_task(*, send_id: int) -> int:
    from publishing.services.fanout import send_materialize

    return send_materialize(send_id=send_id)
