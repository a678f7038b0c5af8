"""Figures read at scrape time from PostgreSQL and Redis (cheap reads: kept counts, list
lengths, one peek per queue), shared by /metrics and the operator alerts (ops.py)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from prometheus_client.core import GaugeMetricFamily

from core.clock import clock

logger = logging.getLogger(__name__)

PUBLISHED_AT_HEADER = "bulletin_published_at"
BEAT_RAN_KEY = "bulletin:beat-ran:{}"  # the periodic task's name, hashed (keys hold no spaces)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def beat_ran_key(name: str) -> str:
    return BEAT_RAN_KEY.format(hashlib.sha1(name.encode()).hexdigest())  # noqa: S324 (a key, not security)


@dataclass
class Snapshot:
    deliveries: list[tuple[str, str, int]] = field(default_factory=list)  # channel, state, n
    sends: dict[str, int] = field(default_factory=dict)
    circuits: dict[str, str] = field(default_factory=dict)
    queue_messages: dict[str, int] = field(default_factory=dict)
    queue_oldest_age: dict[str, float] = field(default_factory=dict)
    beat_lag: dict[str, float] = field(default_factory=dict)
    tracking_buffered: int | None = None
    tracking_lag: float | None = None
    heartbeat_age: float | None = None

    @property
    def dead_letters(self) -> int:
        return sum(n for _, state, n in self.deliveries if state == "dead")


def snapshot() -> Snapshot:
    """Everything the collector exposes; a part that cannot be read is left out and logged."""
    shot = Snapshot()
    for part in (_database, _queues, _beat, _tracking, _heartbeat):
        try:
            part(shot)
        except Exception as exc:  # a scrape must answer even when one source is away
            logger.warning("metrics: %s unavailable: %s", part.__name__.strip("_"), exc)
    return shot


def _database(shot: Snapshot) -> None:
    from django.db.models import Count

    from channels_app.models import Channel, Send
    from channels_app.selectors import delivery_totals_by_channel

    channels = dict(Channel.objects.values_list("pk", "name"))
    shot.deliveries = [(channels.get(pk, str(pk)), state, n) for pk, state, n in delivery_totals_by_channel()]
    shot.sends = dict(Send.objects.order_by().values_list("status").annotate(n=Count("pk")))
    shot.circuits = dict(Channel.objects.values_list("name", "circuit_state"))


def _queues(shot: Snapshot) -> None:
    from core.broker import broker_queue_peek

    for queue in settings.CELERY_TASK_QUEUES:
        waiting, oldest = broker_queue_peek(queue.name)
        if waiting is None:
            return
        shot.queue_messages[queue.name] = waiting
        published = (oldest or {}).get("headers", {}).get(PUBLISHED_AT_HEADER)
        shot.queue_oldest_age[queue.name] = max(0.0, clock.time() - float(published)) if published else 0.0


def _beat(shot: Snapshot) -> None:
    from django_celery_beat.models import PeriodicTask

    now = clock.time()
    for task in PeriodicTask.objects.filter(enabled=True, interval__isnull=False).select_related("interval"):
        ran = cache.get(beat_ran_key(task.name))
        if ran is not None:
            every = task.interval.schedule.run_every.total_seconds()
            shot.beat_lag[task.name] = max(0.0, now - ran - every)


def _tracking(shot: Snapshot) -> None:
    if settings.TRACKING_BUFFER != "redis":
        return
    from core.redis import get_redis

    redis = get_redis()
    shot.tracking_buffered = redis.xlen(settings.TRACKING_STREAM_KEY)
    first = redis.xrange(settings.TRACKING_STREAM_KEY, count=1)
    oldest_ms = int(first[0][0].decode().split("-")[0]) if first else None
    shot.tracking_lag = max(0.0, clock.time() - oldest_ms / 1000) if oldest_ms else 0.0


def _heartbeat(shot: Snapshot) -> None:
    from core.health import HEARTBEAT_CACHE_KEY

    last = cache.get(HEARTBEAT_CACHE_KEY)
    shot.heartbeat_age = None if last is None else max(0.0, clock.time() - last)


class BulletinCollector:
    """Prometheus families of one snapshot."""

    def collect(self):
        shot = snapshot()
        deliveries = GaugeMetricFamily(
            "bulletin_deliveries", "Deliveries by channel and state.", labels=["channel", "state"]
        )
        for channel, state, n in shot.deliveries:
            deliveries.add_metric([channel, state], n)
        yield deliveries
        yield GaugeMetricFamily(
            "bulletin_dead_letters", "Deliveries that gave up (dead letters).", value=shot.dead_letters
        )
        yield _labelled("bulletin_sends", "Sends by status.", "status", shot.sends)
        circuits = {name: CIRCUIT_VALUES.get(state, 0) for name, state in shot.circuits.items()}
        yield _labelled(
            "bulletin_circuit_state", "Circuit per channel: 0 closed, 1 half-open, 2 open.", "channel", circuits
        )
        yield _labelled("bulletin_queue_messages", "Messages waiting per broker queue.", "queue", shot.queue_messages)
        yield _labelled(
            "bulletin_queue_oldest_message_age_seconds",
            "Age of the oldest waiting message.",
            "queue",
            shot.queue_oldest_age,
        )
        yield _labelled("bulletin_beat_task_lag_seconds", "How late each periodic task is.", "task", shot.beat_lag)
        if shot.tracking_buffered is not None:
            yield GaugeMetricFamily(
                "bulletin_tracking_buffer_hits", "Tracking hits not yet drained.", value=shot.tracking_buffered
            )
            yield GaugeMetricFamily(
                "bulletin_tracking_buffer_lag_seconds", "Age of the oldest undrained hit.", value=shot.tracking_lag
            )
        if shot.heartbeat_age is not None:
            yield GaugeMetricFamily(
                "bulletin_worker_heartbeat_age_seconds",
                "Since a worker last ran the heartbeat.",
                value=shot.heartbeat_age,
            )


def _labelled(name: str, documentation: str, label: str, values: dict) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([str(key)], value)
    return family


def queue_message_json(raw: bytes | None) -> dict | None:
    """A kombu Redis message (JSON) as a dict, or None."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
