"""Ingestion of tracking hits: a Redis stream in the request, bulk writes in a drain.

    web:    XADD bulletin:tracking  (one round trip; no database write)
    drain:  XAUTOCLAIM entries a crashed drain left pending (idle > RECLAIM)
            XREADGROUP a batch → one transaction: INSERT events ON CONFLICT (dedupe_key, occurred_at) DO
            NOTHING, engagement summaries, rollup cells → XACK + XDEL

No loss: an entry leaves the stream only after the transaction that stored it committed. A
drain killed between commit and XACK leaves its entries pending; they are claimed again and
inserted again, and the unique `dedupe_key` (the id the web process gave the hit) makes the
second insert a no-op, so nothing is counted twice. Redis unreachable in the request: the hit
is written straight to the database (slower, still counted once). Redis must persist its
data (AOF, `appendfsync everysec`) for buffered hits to survive a Redis crash.
Without REDIS_URL (the embedded default) hits are written directly.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Min
from redis.exceptions import RedisError, ResponseError

from analytics.models import EngagementEvent
from analytics.services.events import DeliveryInfo, events_record
from analytics.services.useragents import user_agent_classify
from channels_app.models import Delivery, Send
from core.redis import get_redis
from subscribers.models import Topic

logger = logging.getLogger(__name__)

GROUP = "drain"
_KINDS = {"open": "o", "click": "c"}
_KIND_NAMES = {v: k for k, v in _KINDS.items()}


@dataclass(frozen=True)
class Hit:
    kind: str  # "open" or "click"
    delivery_id: int
    occurred_at: float  # epoch seconds
    user_agent: str
    head: bool
    key: str  # unique per hit: the event's dedupe key
    send_id: int | None = None
    link_index: int | None = None

    @classmethod
    def new(cls, *, kind: str, delivery_id: int, user_agent: str, head: bool, **extra) -> Hit:
        return cls(kind, delivery_id, time.time(), user_agent[:300], head, uuid.uuid4().hex, **extra)

    def encode(self) -> str:
        return json.dumps(
            [_KINDS[self.kind], self.delivery_id, self.occurred_at, self.user_agent, int(self.head), self.key]
            + ([self.send_id, self.link_index] if self.kind == "click" else []),
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> Hit:
        values = json.loads(raw)
        kind, delivery_id, occurred_at, user_agent, head, key, *click = values
        send_id, link_index = click if click else (None, None)
        return cls(
            _KIND_NAMES[kind],
            int(delivery_id),
            float(occurred_at),
            str(user_agent),
            bool(head),
            str(key),
            send_id,
            link_index,
        )


def tracking_hit_buffer(*, hit: Hit) -> str:
    """Buffer one hit; returns where it went: "buffered", "direct" (Redis down) or "lost"."""
    if settings.TRACKING_BUFFER == "redis":
        try:
            _xadd(hit.encode())
            return "buffered"
        except (RedisError, OSError) as exc:
            logger.warning("tracking buffer unavailable, writing hit directly: %s", exc)
    try:
        tracking_hits_store(hits=[hit])
        return "direct"
    except DatabaseError:
        logger.exception("tracking hit for delivery %s lost: neither Redis nor the database took it", hit.delivery_id)
        return "lost"


_local = threading.local()


def _xadd(payload: str) -> None:
    """XADD on a connection of this thread's own, past redis-py's pool and retry layers: a
    third of the cost of `Redis.xadd` (this runs once per hit). Any error drops the connection."""
    client = get_redis()
    held = getattr(_local, "buffer", None)
    if held is None or held[0] is not client:
        held = _local.buffer = (client, client.connection_pool.make_connection())
    connection = held[1]
    try:
        connection.send_packed_command(connection.pack_command("XADD", settings.TRACKING_STREAM_KEY, "*", "h", payload))
        connection.read_response()
    except BaseException:
        connection.disconnect()
        _local.buffer = None
        raise


@dataclass
class DrainResult:
    read: int = 0
    stored: int = 0
    dropped: int = 0
    invalid: int = 0
    reclaimed: int = 0
    batches: int = 0
    skipped: bool = False
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)


def tracking_buffer_drain(*, max_seconds: float | None = None, consumer: str | None = None) -> DrainResult:
    """Move buffered hits into the database until the stream is empty or time is up.
    One drain at a time (a short Redis lock); a drain that died is replaced after the lock expires."""
    result = DrainResult()
    if settings.TRACKING_BUFFER != "redis":
        result.skipped = True
        return result
    started = time.monotonic()
    budget = settings.TRACKING_DRAIN_MAX_SECONDS if max_seconds is None else max_seconds
    redis = get_redis()
    lock = redis.lock(f"{settings.TRACKING_STREAM_KEY}:drain-lock", timeout=budget + 15, blocking=False)
    if not lock.acquire():
        result.skipped = True
        return result
    try:
        consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        _group_ensure(redis)
        _reclaim_pending(redis, consumer, result)
        while time.monotonic() - started < budget:
            response = redis.xreadgroup(
                GROUP, consumer, {settings.TRACKING_STREAM_KEY: ">"}, count=settings.TRACKING_DRAIN_BATCH_SIZE
            )
            entries = response[0][1] if response else []
            if entries:
                _drain_entries(redis, entries, result)
            if len(entries) < settings.TRACKING_DRAIN_BATCH_SIZE:
                break  # caught up: the next beat finds a full batch rather than a trickle
    finally:
        result.seconds = round(time.monotonic() - started, 3)
        with contextlib.suppress(RedisError):
            lock.release()
    return result


def tracking_buffer_length() -> int:
    """Hits waiting in the stream (read or not)."""
    return get_redis().xlen(settings.TRACKING_STREAM_KEY)


def _group_ensure(redis) -> None:
    try:
        redis.xgroup_create(settings.TRACKING_STREAM_KEY, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _reclaim_pending(redis, consumer: str, result: DrainResult) -> None:
    """Entries read by a drain that died before acknowledging them."""
    idle_ms = int(settings.TRACKING_DRAIN_RECLAIM_IDLE_SECONDS * 1000)
    start = "0-0"
    while True:
        response = redis.xautoclaim(
            settings.TRACKING_STREAM_KEY, GROUP, consumer, idle_ms, start, count=settings.TRACKING_DRAIN_BATCH_SIZE
        )
        start, entries = response[0], [(eid, fields) for eid, fields in response[1] if fields]
        if entries:
            result.reclaimed += len(entries)
            _drain_entries(redis, entries, result)
        if start in (b"0-0", "0-0"):
            return


def _drain_entries(redis, entries: list, result: DrainResult) -> None:
    hits: list[Hit] = []
    for _, fields in entries:
        try:
            hits.append(Hit.decode(fields[b"h"]))
        except (KeyError, ValueError, TypeError):
            result.invalid += 1
    stored = tracking_hits_store(hits=hits)  # commits before anything is acknowledged
    ids = [entry_id for entry_id, _ in entries]
    pipe = redis.pipeline(transaction=False)
    pipe.xack(settings.TRACKING_STREAM_KEY, GROUP, *ids)
    pipe.xdel(settings.TRACKING_STREAM_KEY, *ids)
    pipe.execute()
    result.read += len(entries)
    result.batches += 1
    result.stored += stored.stored
    result.dropped += sum(stored.dropped.values())
    for reason, count in stored.dropped.items():
        result.reasons[reason] = result.reasons.get(reason, 0) + count


@dataclass
class StoreResult:
    stored: int = 0
    dropped: dict[str, int] = field(default_factory=dict)

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


@transaction.atomic
def tracking_hits_store(*, hits: Sequence[Hit]) -> StoreResult:
    """Hits → events in one transaction: classified, checked against their delivery and the
    tracking switches, inserted once each (by key)."""
    result = StoreResult()
    if not hits:
        return result
    deliveries = _deliveries(hits)
    sends = _send_tracking({d.send_id for d in deliveries.values()})
    delivered_at = _delivered_at([h.delivery_id for h in hits if h.kind == "click" and h.delivery_id in deliveries])
    scanner_window = timedelta(seconds=settings.TRACKING_MACHINE_CLICK_SECONDS)
    events = []
    for hit in hits:
        delivery = deliveries.get(hit.delivery_id)
        reason = _refusal(hit, delivery, sends)
        if reason:
            result.drop(reason)
            continue
        occurred = datetime.fromtimestamp(hit.occurred_at, tz=UTC)
        agent = user_agent_classify(hit.user_agent)
        metadata: dict = {"ua_class": agent.name}
        machine = agent.is_machine or hit.head
        if hit.head:
            metadata["method"] = "HEAD"
        if hit.kind == "click":
            metadata.update(link_index=hit.link_index, link=sends[delivery.send_id].links[hit.link_index])
            reference = delivered_at.get(hit.delivery_id) or delivery.sent_at
            if reference is not None and occurred - reference < scanner_window:
                machine, metadata["too_fast"] = True, True
        events.append(
            EngagementEvent(
                delivery_id=hit.delivery_id,
                kind=hit.kind,
                occurred_at=occurred,
                is_machine=machine,
                metadata=metadata,
                dedupe_key=f"hit:{hit.key}",
            )
        )
    events_record(events=events, deliveries=deliveries)
    result.stored = len(events)
    return result


@dataclass(frozen=True)
class _SendTracking:
    enabled: bool
    links: tuple[str, ...]


def _deliveries(hits: Sequence[Hit]) -> dict[int, DeliveryInfo]:
    rows = Delivery.objects.filter(pk__any={h.delivery_id for h in hits}).values_list(
        "pk", "send_id", "channel_id", "subscriber_id", "sent_at", "channel__tracking_enabled"
    )
    return {
        pk: DeliveryInfo(pk, send, channel, subscriber, sent_at, on)
        for pk, send, channel, subscriber, sent_at, on in rows
    }


def _send_tracking(send_ids: set[int]) -> dict[int, _SendTracking]:
    rows = list(
        Send.objects.filter(pk__in=send_ids).values_list(
            "pk", "content__tracking", "content__topic_id", "content__links"
        )
    )
    topic_ids = {topic for _, _, topic, _ in rows if isinstance(topic, int)}
    topics_off = set(Topic.objects.filter(pk__in=topic_ids, tracking_enabled=False).values_list("pk", flat=True))
    return {
        pk: _SendTracking(
            enabled=tracking is not False and topic not in topics_off,
            links=tuple(links) if isinstance(links, list) else (),
        )
        for pk, tracking, topic, links in rows
    }


def _delivered_at(delivery_ids: list[int]) -> dict[int, datetime]:
    if not delivery_ids:
        return {}
    rows = (
        EngagementEvent.objects.filter(delivery_id__any=set(delivery_ids), kind=EngagementEvent.Kind.DELIVERED)
        .values("delivery_id")
        .annotate(at=Min("occurred_at"))
        .values_list("delivery_id", "at")
    )
    return dict(rows)


def _refusal(hit: Hit, delivery: DeliveryInfo | None, sends: dict[int, _SendTracking]) -> str:
    """Why a hit is not recorded ("" when it is)."""
    if delivery is None:
        return "unknown_delivery"
    if hit.send_id is not None and hit.send_id != delivery.send_id:
        return "wrong_send"
    send = sends.get(delivery.send_id)
    if not delivery.tracking_enabled or send is None or not send.enabled:
        return "tracking_off"
    if hit.kind == "click" and not (hit.link_index is not None and 0 <= hit.link_index < len(send.links)):
        return "unknown_link"
    return ""
