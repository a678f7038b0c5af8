from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def worker_heartbeat_task() -> float:
    """Beat sends this every minute; /health/ready reads the time a worker last ran it."""
    from core.services import worker_heartbeat_record

    return worker_heartbeat_record()
