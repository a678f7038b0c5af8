from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True)
def worker_heartbeat_task() -> float:
    """Beat sends this every minute; /health/ready reads the time a worker last ran it."""
    from core.services import worker_heartbeat_record

    return worker_heartbeat_record()


@shared_task(ignore_result=True)
def queue_probe_task(*, key: str) -> None:
    """Marks that a worker reached this message: everything published to the same queue before
    it has been taken (a queue is first in, first out). Tests use it as a sentinel instead of
    sleeping; operators can use it to time a queue's round trip."""
    from django.core.cache import cache

    from core.clock import clock

    cache.set(f"bulletin:queue-probe:{key}", clock.time(), timeout=3600)
    counter = f"bulletin:queue-probe-count:{key}"
    cache.add(counter, 0, timeout=3600)
    cache.incr(counter)
