"""Daily and weekly digests, built by a beat task every few minutes, on every channel kind that
carries digests (the registry's `carries_digests`: email, Slack direct messages, personal webhooks).

When is a digest due? A subscriber's digest time is `digest_hour` on their local date (daily)
or on `digest_weekday` (weekly), in their IANA time zone. Each run looks only at the most recent
digest time at or before now; if that time is at most DIGEST_CATCH_UP_HOURS old and its period
has no DigestLog yet, the digest is due. So a beat that was down for hours catches up once (the
latest period), never once per missed tick.

Idempotency and DST: the period is the local date (daily) or the Monday of the local ISO week
(weekly) in the subscriber's zone, and (subscriber, channel kind, frequency, period, zone) is
unique in the database; two digests of one frequency are never closer than `min_gap` (20 hours
for daily ones), so a subscriber who moves east across the date line gets no second digest on
one day, and one who moves west loses at most the day the gap covers. A run claims periods
with INSERT ... ON CONFLICT DO NOTHING in the same transaction that creates the deliveries, so
repeated or overlapping runs never build two digests for one period. A local hour that occurs
twice (autumn) belongs to one local date, so it cannot make a second period; a local hour that
does not exist (spring) resolves, with fold=0, to the instant just after the gap, so it is not
skipped.

What goes in: publications published since the subscriber's last digest of this frequency on
this kind (for the first one: one period back, or since their last digest of the other frequency),
in topics they follow on this kind at this frequency, minus anything an earlier digest on this kind
already sent them, ranked (publishing.services.ranking), top DIGEST_TOP_N. Nothing new: no
message, but the period is recorded as empty. Each kind's digest goes through that kind's
default personal channel; a kind without one builds nothing and its periods stay open.
"""

from __future__ import annotations

import json
import logging
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q

from channels_app.adapters import ADAPTERS, digest_kinds
from channels_app.models import Channel, Delivery, Send
from channels_app.services.dispatch import deliveries_dispatch, queue_for
from core.clock import clock
from publishing.models import DigestFrequency, DigestLog
from publishing.selectors import personal_channels
from publishing.services.digest_content import digest_content
from publishing.services.ranking import (
    Candidate,
    PreparedCandidates,
    ScoredItem,
    SubscriberProfile,
    candidates_load,
    candidates_prepare,
    candidates_rank,
    subscriber_profiles,
)
from publishing.services.send_timing import send_timing_for
from subscribers.models import Subscriber, Subscription, Topic
from subscribers.segments.compile import segment_q
from subscribers.selectors import mailable_subscribers

logger = logging.getLogger(__name__)
PERIOD_LENGTH = {DigestFrequency.DAILY: timedelta(days=1), DigestFrequency.WEEKLY: timedelta(days=7)}


def min_gap(frequency: str) -> timedelta:
    """Two digests of one frequency on one kind are never closer than this: a day less four hours
    for daily ones (20 hours), a week less four hours for weekly ones. A DST change moves a local
    hour by at most one, so it never trips this; moving east across time zones would."""
    return PERIOD_LENGTH[frequency] - timedelta(hours=4)


@dataclass(frozen=True)
class Slot:
    period: date
    scheduled_for: datetime  # UTC
    zone: str = "UTC"  # the subscriber's time zone, whose local date `period` is


@dataclass
class DigestRunOutcome:
    due: int = 0
    sent: int = 0
    empty: int = 0
    skipped: int = 0  # claimed by another run first
    sends: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class DigestPlan:
    subscriber_id: int
    slot: Slot
    window_start: datetime
    items: tuple[int, ...]
    # The topics it stands for (followed on its kind at its frequency): what its unsubscribe stops.
    topic_ids: tuple[int, ...] = ()


@lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown time zone %r: using UTC for its digests", name)
        return zoneinfo.ZoneInfo("UTC")


def digest_slot(*, frequency: str, tz_name: str, hour: int, weekday: int, now: datetime) -> Slot:
    """The most recent digest time at or before `now` for these preferences, and its period."""
    zone = _zone(tz_name)
    today = now.astimezone(zone).date()
    weekly = frequency == DigestFrequency.WEEKLY
    for back in range(8 if weekly else 2):
        day = today - timedelta(days=back)
        if weekly and day.weekday() != weekday:
            continue
        # fold=0: a non-existent local time (spring forward) maps to the instant just after the
        # gap; a repeated one (autumn) to its first occurrence. Either way one instant per day.
        at = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)
        if at <= now:
            period = day - timedelta(days=day.weekday()) if weekly else day
            return Slot(period=period, scheduled_for=at, zone=tz_name)
    raise AssertionError("unreachable: a digest time exists within the last week")


def _subscribed(frequency: str, kind: str):
    return Exists(Subscription.objects.filter(subscriber=OuterRef("pk"), channel_kind=kind, frequency=frequency))


def digest_readers(*, frequency: str, kind: str, now: datetime):
    """Mailable subscribers with a `frequency` subscription on `kind` and an address for it
    (a Slack member ID, a webhook URL), annotated with that `address`."""
    field = ADAPTERS[kind].subscriber_field
    return (
        mailable_subscribers(now=now)
        .filter(_subscribed(frequency, kind))
        .exclude(**{field: ""})
        .annotate(address=F(field))
    )


def digest_due_groups(*, frequency: str, now: datetime, kind: str = "email") -> dict[date, tuple[Q, dict[tuple, Slot]]]:
    """Due preference combinations grouped by period: a filter selecting their subscribers and
    the slot of each (time zone, hour[, weekday]). One query over distinct preferences."""
    fields = ["timezone", "digest_hour"] + (["digest_weekday"] if frequency == DigestFrequency.WEEKLY else [])
    readers = digest_readers(frequency=frequency, kind=kind, now=now)
    combos = readers.values_list(*fields).distinct().order_by()
    oldest = now - timedelta(hours=settings.DIGEST_CATCH_UP_HOURS)
    by_period: dict[date, dict[tuple, Slot]] = defaultdict(dict)
    for combo in combos:
        weekday = combo[2] if len(combo) > 2 else 0
        slot = digest_slot(frequency=frequency, tz_name=combo[0], hour=combo[1], weekday=weekday, now=now)
        if slot.scheduled_for >= oldest:
            by_period[slot.period][combo] = slot
    groups = {}
    for period, slots in by_period.items():
        zones_by_key: dict[tuple, list[str]] = defaultdict(list)
        for combo in slots:
            zones_by_key[combo[1:]].append(combo[0])
        query = Q()
        for key, zones in zones_by_key.items():
            query |= Q(timezone__in=zones, **dict(zip(fields[1:], key, strict=True)))
        groups[period] = (query, slots)
    return groups


def digests_run(
    *, now: datetime | None = None, frequencies: Sequence[str] = tuple(DigestFrequency)
) -> DigestRunOutcome:
    """Build every due digest on every kind that carries them (the beat task). Safe to run
    repeatedly and concurrently. `now` defaults to core.clock's, which tests move."""
    now = now or clock.now()
    outcome = DigestRunOutcome()
    kinds = digest_kinds()
    channels = personal_channels(kinds=kinds)
    candidates: list[Candidate] | None = None  # loaded once per run, when something is due
    for kind in kinds:
        channel = channels.get(kind)
        if channel is None:
            logger.info("digests: no active default %s channel; none built on it (periods stay open)", kind)
            continue
        for frequency in frequencies:
            groups = digest_due_groups(frequency=frequency, now=now, kind=kind)
            if not groups:
                continue
            if candidates is None:
                since = now - timedelta(days=settings.DIGEST_MAX_LOOKBACK_DAYS)
                candidates = candidates_load(since=since, until=now)
            for period, (query, slots) in groups.items():
                _run_period(frequency, period, query, slots, candidates, channel, now, outcome)
    return outcome


def _run_period(frequency, period, query, slots, candidates, channel, now, outcome) -> None:
    fields = ("timezone", "digest_hour") + (("digest_weekday",) if frequency == DigestFrequency.WEEKLY else ())
    logs = DigestLog.objects.filter(subscriber=OuterRef("pk"), channel_kind=channel.kind, frequency=frequency)
    done = logs.filter(period=period, period_zone=OuterRef("timezone"))
    too_soon = logs.filter(created_at__gt=now - min_gap(frequency))
    due = (
        digest_readers(frequency=frequency, kind=channel.kind, now=now)
        .filter(query)
        .filter(~Exists(done), ~Exists(too_soon))
        .order_by("pk")
        .values_list("pk", *fields)
    )
    last = 0
    while True:
        rows = list(due.filter(pk__gt=last)[: settings.DIGEST_BATCH_SIZE])
        if not rows:
            return
        last = rows[-1][0]
        batch = [(row[0], slots[tuple(row[1:])]) for row in rows]
        outcome.due += len(batch)
        digest_batch_build(
            frequency=frequency, batch=batch, candidates=candidates, channel=channel, now=now, outcome=outcome
        )


def digests_history(
    subscriber_ids: Sequence[int], now: datetime, kind: str = "email"
) -> dict[int, list[tuple[str, datetime, list[int]]]]:
    """Each subscriber's recent digests on `kind`: (frequency, window end, items sent)."""
    since = now - timedelta(days=settings.DIGEST_MAX_LOOKBACK_DAYS + 1)
    history: dict[int, list[tuple[str, datetime, list[int]]]] = defaultdict(list)
    rows = DigestLog.objects.filter(
        subscriber_id__in=subscriber_ids, channel_kind=kind, window_end__gte=since
    ).values_list("subscriber_id", "frequency", "window_end", "publication_ids")
    for subscriber_id, frequency, window_end, items in rows:
        history[subscriber_id].append((frequency, window_end, items or []))
    return history


def digest_window_start(
    *, frequency: str, history: Sequence[tuple[str, datetime, list[int]]], now: datetime
) -> datetime:
    """Since the last digest of this frequency. The first one of a frequency reaches one period
    back, or back to their last digest of the other frequency when that is older: a switch from
    weekly to daily loses nothing, and what earlier digests sent is excluded anyway."""
    same = [end for freq, end, _ in history if freq == frequency]
    if same:
        start = max(same)
    else:
        start = now - PERIOD_LENGTH[frequency]
        if history:
            start = min(start, max(end for _, end, _ in history))
    return max(start, now - timedelta(days=settings.DIGEST_MAX_LOOKBACK_DAYS))


def digest_plans(
    *,
    frequency: str,
    batch: Sequence[tuple[int, Slot]],
    candidates: Sequence[Candidate],
    now: datetime,
    kind: str = "email",
) -> list[DigestPlan]:
    """Rank each subscriber's items: one query for their profiles, one for their digest history."""
    ids = [subscriber_id for subscriber_id, _ in batch]
    profiles = subscriber_profiles(subscriber_ids=ids, frequencies=[frequency], now=now, kind=kind)
    blocked = digest_segment_limits(profiles=profiles, candidates=candidates, now=now)
    history = digests_history(ids, now, kind)
    prepared = candidates_prepare(candidates=candidates, now=now)
    plans = []
    for subscriber_id, slot in batch:
        start, _, ranked = digest_selection(
            frequency=frequency,
            profile=profiles[subscriber_id],
            history=history.get(subscriber_id, []),
            candidates=prepared,
            now=now,
            blocked=blocked.get(subscriber_id, frozenset()),
        )
        items = tuple(item.publication_id for item in ranked)
        topics = tuple(sorted(profiles[subscriber_id].topic_ids))
        plans.append(DigestPlan(subscriber_id, slot, start, items, topics))
    return plans


def digest_segment_limits(
    *, profiles: dict[int, SubscriberProfile], candidates: Sequence[Candidate], now: datetime
) -> dict[int, set[int]]:
    """Segments in digests, for a batch: a topic limited to a digest segment is dropped from the
    profile of every subscriber outside it, and a publication with a segment (or an exclusion)
    is blocked for those outside it (or in it). One query per segment in use, whatever the batch."""
    ids = list(profiles)
    topics = Topic.objects.filter(digest_segment__isnull=False, pk__in={t for c in candidates for t in c.topic_ids})
    for topic in topics.select_related("digest_segment"):
        members = _members(topic.digest_segment.rules, ids, now)
        for subscriber_id, profile in profiles.items():
            if subscriber_id not in members:
                profile.topic_ids.discard(topic.pk)
    blocked: dict[int, set[int]] = {}
    for candidate in candidates:
        publication = candidate.publication
        for rules, keep in _candidate_segments(publication):
            members = _members(rules, ids, now)
            for subscriber_id in ids:
                if (subscriber_id in members) != keep:
                    blocked.setdefault(subscriber_id, set()).add(candidate.id)
    return blocked


def _candidate_segments(publication) -> list[tuple[dict, bool]]:
    if publication is None:
        return []
    pairs = [(publication.segment, True), (publication.exclude_segment, False)]
    return [(segment.rules, keep) for segment, keep in pairs if segment is not None]


def _members(rules: dict, ids: Sequence[int], now: datetime) -> set[int]:
    return set(Subscriber.objects.filter(pk__in=ids).filter(segment_q(rules, now=now)).values_list("pk", flat=True))


def digest_selection(
    *,
    frequency: str,
    profile: SubscriberProfile,
    history: list,
    candidates: PreparedCandidates,
    now: datetime,
    blocked: set[int] | frozenset[int] = frozenset(),
) -> tuple[datetime, set[int], list[ScoredItem]]:
    """One subscriber's digest now: where its window starts, what earlier digests carried (never
    repeated), and its top DIGEST_TOP_N items (none of `blocked`, publications whose segment
    leaves this subscriber out). The digest run and admin's explanation share it."""
    start = digest_window_start(frequency=frequency, history=history, now=now)
    sent_before = {pk for _, _, items in history for pk in items}
    ranked = candidates_rank(
        profile=profile,
        candidates=candidates,
        now=now,
        since=start,
        exclude=sent_before | set(blocked),
        limit=settings.DIGEST_TOP_N,
    )
    return start, sent_before, ranked


@transaction.atomic
def digest_batch_build(
    *,
    frequency: str,
    batch: Sequence[tuple[int, Slot]],
    candidates: Sequence[Candidate],
    channel: Channel,
    now: datetime,
    outcome: DigestRunOutcome | None = None,
) -> DigestRunOutcome:
    """Claim, rank and create the digests of a batch of subscribers on `channel` in one transaction."""
    outcome = outcome or DigestRunOutcome()
    kind = channel.kind
    plans = digest_plans(frequency=frequency, batch=batch, candidates=candidates, now=now, kind=kind)
    wanted = [plan.subscriber_id for plan in plans if plan.items]
    readers = digest_readers(frequency=frequency, kind=kind, now=now)
    addresses = dict(readers.filter(pk__in=wanted).values_list("pk", "address")) if wanted else {}
    # Someone unsubscribed since they were selected: their period is recorded as empty.
    plans = [plan if plan.subscriber_id in addresses else replace(plan, items=()) for plan in plans]
    with_items = [plan for plan in plans if plan.items]
    # The send exists before the claims so each claimed log points at it in the same INSERT.
    send = _digest_send(kind, frequency, with_items, candidates, now) if with_items else None
    # Publications committed just before `now` may have been invisible to this run: the next
    # window starts a little earlier, and `sent_before` keeps what this one sent from repeating.
    window_end = now - timedelta(seconds=settings.DIGEST_WINDOW_GRACE_SECONDS)
    claimed = digest_periods_claim(
        kind=kind,
        frequency=frequency,
        plans=plans,
        window_end=window_end,
        now=now,
        send_id=send.pk if send else None,
    )
    outcome.skipped += len(plans) - len(claimed)
    to_send = [plan for plan in with_items if plan.subscriber_id in claimed]
    outcome.empty += len(claimed) - len(to_send)
    if send is not None and len(to_send) != len(with_items):  # another run claimed some first
        if not to_send:
            send.delete()
            return outcome
        Send.objects.filter(pk=send.pk).update(audience_size=len(to_send))
    if not to_send:
        return outcome
    deliveries = Delivery.objects.bulk_create(
        [
            Delivery(
                send=send,
                channel=channel,
                subscriber_id=plan.subscriber_id,
                recipient_key=plan.subscriber_id,
                recipient=addresses[plan.subscriber_id],
                context={
                    "items": list(plan.items),
                    "topics": list(plan.topic_ids),
                    "frequency": frequency,
                    "period": str(plan.slot.period),
                },
            )
            for plan in to_send
        ],
        batch_size=1000,
    )
    ids = [d.pk for d in deliveries]
    timing = send_timing_for(send=send, channel=channel)  # a warming channel: its daily cap holds digests too
    deliveries_dispatch(
        channel_id=channel.pk,
        delivery_ids=ids if timing is None else timing.schedule(ids),
        queue=queue_for(kind=Send.Kind.DIGEST, high_priority=False),
    )
    if timing is not None:
        timing.finish()
    outcome.sent += len(deliveries)
    outcome.sends.append(send.pk)
    return outcome


def _digest_send(
    kind: str, frequency: str, plans: Sequence[DigestPlan], candidates: Sequence[Candidate], now: datetime
) -> Send:
    by_id = {c.id: c for c in candidates}
    used = [by_id[pk] for plan in plans for pk in plan.items]
    return Send.objects.create(
        key=f"digest:{kind}:{frequency}:{now:%Y%m%dT%H%M%S}:{uuid.uuid4().hex[:12]}",
        kind=Send.Kind.DIGEST,
        subject=f"{frequency.title()} digest",
        content=digest_content(frequency=frequency, candidates=candidates, used=used, kind=kind),
        audience={"digest": frequency, "channel_kind": kind, "periods": sorted({str(p.slot.period) for p in plans})},
        status=Send.Status.SENDING,
        started_at=now,
        audience_ready=True,
        audience_size=len(plans),
    )


def digest_periods_claim(
    *,
    frequency: str,
    plans: Sequence[DigestPlan],
    window_end: datetime,
    now: datetime,
    send_id: int | None = None,
    kind: str = "email",
) -> dict[int, int]:
    """INSERT the periods' logs, skipping any another run already holds; {subscriber id: log id}
    of those this run claimed. Concurrent runs block on each other's rows, then skip them."""
    ops = connection.ops
    claimed: dict[int, int] = {}
    table = DigestLog._meta.db_table
    columns = "subscriber_id, channel_kind, frequency, period, period_zone, scheduled_for, window_start, "
    columns += "window_end, publication_ids, send_id, created_at"
    for start in range(0, len(plans), 500):  # SQLite allows ~32k parameters per statement
        chunk = plans[start : start + 500]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
        params: list = []
        for plan in chunk:
            params += [
                plan.subscriber_id,
                kind,
                frequency,
                ops.adapt_datefield_value(plan.slot.period),
                plan.slot.zone,
                ops.adapt_datetimefield_value(plan.slot.scheduled_for),
                ops.adapt_datetimefield_value(plan.window_start),
                ops.adapt_datetimefield_value(window_end),
                json.dumps(list(plan.items)),
                send_id if plan.items else None,
                ops.adapt_datetimefield_value(now),
            ]
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES {values} "  # noqa: S608  (our table; values are params)
            "ON CONFLICT (subscriber_id, channel_kind, frequency, period, period_zone) DO NOTHING "
            "RETURNING id, subscriber_id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            claimed.update({subscriber_id: pk for pk, subscriber_id in cursor.fetchall()})
    return claimed
