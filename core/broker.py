"""Helpers for the Celery broker, embedded (filesystem) or Redis."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from core.clock import clock


def is_embedded_broker() -> bool:
    return settings.CELERY_BROKER_URL.startswith("filesystem://")


def ensure_embedded_broker_folders() -> None:
    """kombu's filesystem transport expects its folders to exist."""
    if not is_embedded_broker():
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


def broker_started_empty_at() -> datetime | None:
    """When the Redis broker's process last started, or None for brokers that keep messages.

    Redis as Bulletin runs it keeps nothing on disk: every message published before its
    process started is gone. With persistence on, those messages survive and are merely
    published twice, which is harmless (claims are atomic). Other brokers (the embedded
    filesystem one) keep their messages: None.
    """
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    # Whole seconds, from a clock Redis refreshes ten times a second: the start lies within the
    # second before now - uptime + 1. Erring late only publishes a few messages twice.
    uptime = _broker_redis(url).info("server")["uptime_in_seconds"]
    return datetime.fromtimestamp(clock.time() - float(uptime) + 1, tz=UTC)


# kombu's Redis transport keeps each queue as a list, one per priority step (kombu.transport.redis).
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")


def broker_messages_waiting() -> int | None:
    """Messages waiting in Bulletin's queues on a Redis broker, or None where we cannot tell.

    When nothing waits, queued work whose message was published a while ago can only be held
    by a worker that died with it reserved (Redis gives such a message back only after its
    visibility timeout, an hour): the sweeper publishes it again.
    """
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None
    pipe = _broker_redis(url).pipeline(transaction=False)
    for queue in settings.CELERY_TASK_QUEUES:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(f"{queue.name}{suffix}")
    return sum(pipe.execute())


def broker_queue_peek(queue: str) -> tuple[int | None, dict | None]:
    """(messages waiting in `queue`, the oldest of them as kombu stored it) on a Redis broker;
    (None, None) where we cannot tell. kombu publishes with LPUSH and consumes from the right."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return None, None
    from core.observability.collectors import queue_message_json

    client = _broker_redis(url)
    waiting, oldest = 0, None
    for suffix in _PRIORITY_SUFFIXES:
        key = f"{queue}{suffix}"
        pipe = client.pipeline(transaction=False)
        pipe.llen(key)
        pipe.lindex(key, -1)
        length, raw = pipe.execute()
        waiting += length
        oldest = oldest or queue_message_json(raw)
    return waiting, oldest


@functools.cache
def _broker_redis(url: str):
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # A restarted broker drops the pooled connection; the retry reconnects instead of failing.
    return redis.Redis.from_url(
        url,
        socket_timeout=2,
        socket_connect_timeout=2,
        retry=Retry(ExponentialBackoff(cap=1, base=0.1), 2),
        retry_on_error=[redis.ConnectionError],
    )
