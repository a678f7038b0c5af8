"""Delivery rows: created in bulk by SQL, claimed atomically, outcomes recorded in bulk.

State machine (models.DELIVERY_TRANSITIONS):
    queued --claim--> sending --provider ok--> sent --feedback--> delivered/bounced/complained
                         |--transient--> queued (next_attempt_at) ... --attempts exhausted--> dead
                         '--permanent--> failed
Every write here is a single statement guarded by the expected current state, so two workers
never both act on one delivery and a re-run never resends a sent one.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, DateTimeField, F, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Greatest

from channels_app.adapters.base import SendResult
from channels_app.models import Channel, Delivery, Send
from channels_app.rendering import DeliveryRow
from core.clock import clock
from subscribers.models import Subscriber

QUEUED, SENDING, SENT, FAILED, DEAD = (
    Delivery.State.QUEUED,
    Delivery.State.SENDING,
    Delivery.State.SENT,
    Delivery.State.FAILED,
    Delivery.State.DEAD,
)


def _db_dt(value: datetime):
    return connection.ops.adapt_datetimefield_value(value)


def deliveries_create_from(*, send: Send, channel: Channel, recipients: QuerySet) -> list[int]:
    """INSERT ... SELECT one delivery per row of `recipients` (columns: id, address), skipping
    rows that already have one (ON CONFLICT DO NOTHING). Returns the ids created, which the
    caller enqueues once this commits (so they count as enqueued from the start)."""
    select_sql, params = recipients.values_list("id", "address").query.sql_with_params()
    now = _db_dt(clock.now())
    period = connection.ops.adapt_datefield_value(send.delivery_period)
    table = Delivery._meta.db_table
    # Only identifiers from model metadata and the ORM's own SQL are interpolated; values are params.
    # No conflict target: the unique (send, channel, recipient_key, period), or on a large install
    # not yet partitioned (docs/partitioning.md) its older (send, channel, recipient_key).
    sql = (
        f"INSERT INTO {table} (send_id, period, channel_id, subscriber_id, recipient_key, recipient, state, "
        "attempts, last_error, provider_message_id, lease_token, enqueued_at, created_at, updated_at) "
        f"SELECT %s, %s, %s, q.id, q.id, q.address, %s, 0, '', '', '', %s, %s, %s FROM ({select_sql}) AS q "
        "WHERE true ON CONFLICT DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [send.pk, period, channel.pk, QUEUED, now, now, now, *params])
        return sorted(row[0] for row in cursor.fetchall())


def delivery_create_broadcast(*, send: Send, channel: Channel) -> list[int]:
    """The one delivery of a broadcast destination (recipient_key 0)."""
    delivery, created = Delivery.objects.get_or_create(
        send=send,
        period=send.delivery_period,
        channel=channel,
        recipient_key=0,
        defaults={"recipient": "", "state": QUEUED, "enqueued_at": clock.now()},
    )
    return [delivery.pk] if created else []


@dataclass(frozen=True)
class Claim:
    """Deliveries one batch run holds: their ids and the token its lease and releases go by."""

    token: str
    ids: list[int]


def deliveries_claim(*, ids: Sequence[int]) -> Claim:
    """queued → sending for the due ones among `ids` whose send is sending, under a fresh lease."""
    token = uuid.uuid4().hex
    if not ids:
        return Claim(token, [])
    sql, params = _claim_sql(ids, token)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING id", params)
        return Claim(token, sorted(row[0] for row in cursor.fetchall()))


def deliveries_claim_rows(*, ids: Sequence[int]) -> tuple[Claim, dict[int, list[DeliveryRow]]]:
    """Claim (as `deliveries_claim`) and load what rendering needs (as `deliveries_rows`).

    On PostgreSQL one statement does both: the claiming UPDATE returns the deliveries' columns
    and the same statement joins their subscribers, so a batch starts with one round trip.
    """
    if connection.vendor != "postgresql" or not ids:
        claim = deliveries_claim(ids=ids)
        return claim, deliveries_rows(ids=claim.ids) if claim.ids else {}
    token = uuid.uuid4().hex
    update, params = _claim_sql(ids, token)
    subscribers = Subscriber._meta.db_table
    sql = (  # identifiers from model metadata; values are params
        f"WITH claimed AS ({update} RETURNING id, send_id, recipient, subscriber_id, context) "
        "SELECT c.id, c.send_id, c.recipient, c.subscriber_id, s.name, s.email, s.token_version, c.context, "
        f"s.attributes, s.locale, s.timezone FROM claimed c LEFT JOIN {subscribers} s ON s.id = c.subscriber_id "
        "ORDER BY c.id"
    )
    with connection.cursor() as cursor:  # one statement: atomic by itself
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    rows: dict[int, list[DeliveryRow]] = {}
    for pk, send_id, recipient, sub_id, name, email, version, context, attributes, locale, zone in fetched:
        rows.setdefault(send_id, []).append(
            DeliveryRow(
                pk,
                recipient,
                sub_id,
                name or "",
                email or "",
                version or 1,
                _json(context),
                _json(attributes),
                locale,
                zone,
            )
        )
    return Claim(token, [row[0] for row in fetched]), rows


# A state condition the planner cannot match to the partial indexes on state (queued, sending):
# with it written plainly, a young partition's statistics make the planner scan a whole partial
# index (every row that passed through the state since the last vacuum) instead of looking up the
# batch's ids, which made each chunk slower as a send went on. COALESCE(x, false) is x here
# (state is NOT NULL) but opaque to the index-predicate proof, so the ids lead.
BY_ID_ONLY = "COALESCE({}, false)"


def _claim_sql(ids: Sequence[int], token: str) -> tuple[str, list]:
    now = clock.now()
    table, send_table = Delivery._meta.db_table, Send._meta.db_table
    placeholders = ",".join(["%s"] * len(ids))
    lock = " FOR UPDATE OF d SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    # The send's status is a per-row subquery, not a join: a join lets the planner start from
    # the (one) sending send and walk all its queued deliveries by (send, state) looking for
    # these ids, once per partition, which it favours when the partitions' statistics are young.
    sql = (  # identifiers from model metadata; values are params
        f"UPDATE {table} SET state = %s, attempts = attempts + 1, lease_expires_at = %s, lease_token = %s, "
        f"updated_at = %s WHERE id IN (SELECT d.id FROM {table} d "
        f"WHERE d.id IN ({placeholders}) AND {BY_ID_ONLY.format('d.state = %s')} "
        "AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= %s) "
        f"AND (SELECT s.status FROM {send_table} s WHERE s.id = d.send_id) = %s{lock})"
    )
    lease = now + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    return sql, [SENDING, _db_dt(lease), token, _db_dt(now), *ids, QUEUED, _db_dt(now), Send.Status.SENDING]


def _json(value):
    """jsonb as Django's psycopg connection returns it from raw SQL (text), decoded."""
    return json.loads(value) if isinstance(value, str) else value


def deliveries_renew_lease(*, claim: Claim) -> int:
    """Extend the lease of what `claim` still holds (the batch is alive and working)."""
    until = clock.now() + timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    return Delivery.objects.filter(pk__in=claim.ids, state=SENDING, lease_token=claim.token).update(
        lease_expires_at=until
    )


def deliveries_rows(*, ids: Sequence[int]) -> dict[int, list[DeliveryRow]]:
    """Claimed deliveries with what rendering needs, grouped by send: one query."""
    rows: dict[int, list[DeliveryRow]] = {}
    queryset = (
        Delivery.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list(
            "pk",
            "send_id",
            "recipient",
            "subscriber_id",
            "subscriber__name",
            "subscriber__email",
            "subscriber__token_version",
            "context",
            "subscriber__attributes",
            "subscriber__locale",
            "subscriber__timezone",
        )
    )
    for pk, send_id, recipient, sub_id, name, email, version, context, attributes, locale, zone in queryset:
        rows.setdefault(send_id, []).append(
            DeliveryRow(pk, recipient, sub_id, name or "", email or "", version or 1, context, attributes, locale, zone)
        )
    return rows


@dataclass(frozen=True)
class RecordedOutcome:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    dead: int = 0
    retry_due: tuple[tuple[int, float], ...] = ()  # (delivery id, seconds until due) of retries


def deliveries_record(
    *, results: Iterable[SendResult], via: Channel | None = None, token: str | None = None
) -> RecordedOutcome:
    """Write a chunk's outcomes: one UPDATE per kind of outcome, each guarded by the state.

    `sent` is written to a row this claim (`token`) sent even if the sweeper took it back
    meanwhile (still queued: not sent again); failures and retries only to rows it still holds.
    """
    results = list(results)
    sent = [r for r in results if r.ok]
    permanent = [r for r in results if not r.ok and r.permanent]
    transient = [r for r in results if not r.ok and not r.permanent]
    now = clock.now()
    # A chunk the provider accepted (the common case) is one statement, atomic by itself.
    with transaction.atomic() if permanent or transient else nullcontext():
        if sent:
            _mark_sent(sent, via=via, token=token, now=now)
        if permanent:
            _claimed([r.delivery_id for r in permanent], token).update(
                state=FAILED,
                updated_at=now,
                lease_expires_at=None,
                last_error=_case_text({r.delivery_id: r.error for r in permanent}),
            )
        retry_due, dead = _schedule_retries(transient, now, token) if transient else ((), 0)
    return RecordedOutcome(len(sent), len(permanent), len(transient) - dead, dead, retry_due)


def deliveries_defer(*, ids: Sequence[int], until: datetime, reason: str, token: str | None = None) -> int:
    """Put claimed deliveries back without spending an attempt (circuit open, rate limit full,
    our own infrastructure failing): queued again, due at `until`, for the sweeper to enqueue."""
    return _claimed(ids, token).update(
        state=QUEUED,
        attempts=Greatest(F("attempts") - 1, 0),
        next_attempt_at=until,
        lease_expires_at=None,
        last_error=reason[:2000],
        updated_at=clock.now(),
    )


def deliveries_fail(*, ids: Sequence[int], reason: str, token: str | None = None) -> int:
    return _claimed(ids, token).update(
        state=FAILED, last_error=reason[:2000], lease_expires_at=None, updated_at=clock.now()
    )


def retry_delay(*, attempts: int, retry_after: float | None) -> float:
    """Exponential backoff with full jitter around the step; the provider's Retry-After is a floor."""
    step = min(settings.DELIVERY_RETRY_MAX_SECONDS, settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return max(retry_after or 0.0, step * random.uniform(0.5, 1.5))


def _schedule_retries(
    transient: list[SendResult], now: datetime, token: str | None
) -> tuple[tuple[tuple[int, float], ...], int]:
    ids = [r.delivery_id for r in transient]
    attempts = dict(Delivery.objects.filter(pk__in=ids).values_list("pk", "attempts"))
    delays = {
        r.delivery_id: retry_delay(attempts=attempts.get(r.delivery_id, 1), retry_after=r.retry_after)
        for r in transient
    }
    exhausted = [i for i in ids if attempts.get(i, 0) >= settings.DELIVERY_MAX_ATTEMPTS]
    errors = {r.delivery_id: r.error for r in transient}
    if exhausted:
        _claimed(exhausted, token).update(
            state=DEAD,
            updated_at=now,
            lease_expires_at=None,
            last_error=_case_text({i: f"{errors[i]} (gave up after {attempts[i]} attempts)" for i in exhausted}),
        )
    retrying = [i for i in ids if i not in set(exhausted)] if exhausted else ids
    if retrying:
        _claimed(retrying, token).update(
            state=QUEUED,
            updated_at=now,
            lease_expires_at=None,
            next_attempt_at=Case(
                *[When(pk=i, then=Value(now + timedelta(seconds=delays[i]))) for i in retrying],
                output_field=DateTimeField(),
            ),
            last_error=_case_text({i: errors[i] for i in retrying}),
        )
    return tuple((i, delays[i]) for i in retrying), len(exhausted)


def _claimed(ids: Sequence[int], token: str | None = None) -> QuerySet[Delivery]:
    """Rows among `ids` still held by the claim `token` (any claim when None: operator actions)."""
    rows = Delivery.objects.filter(pk__in=list(ids), state=SENDING)
    return rows.filter(lease_token=token) if token else rows


def _mark_sent(sent: list[SendResult], *, via: Channel | None, token: str | None, now: datetime) -> None:
    """sending → sent with each row's provider message id. On PostgreSQL one set-based UPDATE
    joins the chunk's (id, message id) pairs as arrays (`unnest`), instead of a CASE with a
    branch per row that the ORM builds and PostgreSQL evaluates row by row."""
    if connection.vendor != "postgresql":
        _sent_by(token, [r.delivery_id for r in sent]).update(
            state=SENT,
            sent_at=now,
            updated_at=now,
            lease_expires_at=None,
            last_error="",
            sent_via=via,
            provider_message_id=_case_text({r.delivery_id: r.provider_message_id for r in sent}),
        )
        return
    reclaimed = " OR (d.state = %s AND d.lease_token = %s)" if token else ""
    sql = (  # identifiers from model metadata; values are params
        f"UPDATE {Delivery._meta.db_table} AS d SET state = %s, sent_at = %s, updated_at = %s, "
        "lease_expires_at = NULL, last_error = '', sent_via_id = %s, provider_message_id = v.message_id "
        "FROM unnest(%s::bigint[], %s::text[]) AS v(id, message_id) "
        f"WHERE d.id = v.id AND {BY_ID_ONLY.format(f'(d.state = %s{reclaimed})')}"
    )
    params = [
        SENT,
        _db_dt(now),
        _db_dt(now),
        via.pk if via else None,
        [r.delivery_id for r in sent],
        [r.provider_message_id or "" for r in sent],
        SENDING,
        *([QUEUED, token] if token else []),
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _sent_by(token: str | None, ids: Sequence[int]) -> QuerySet[Delivery]:
    """Rows among `ids` a provider just accepted: sending (whoever holds them now), or queued
    again by the sweeper after this claim's lease ran out but not yet claimed by another batch."""
    held_or_reclaimed = Q(state=SENDING)
    if token:
        held_or_reclaimed |= Q(state=QUEUED, lease_token=token)
    return Delivery.objects.filter(held_or_reclaimed, pk__in=list(ids))


def _case_text(values: dict[int, str]) -> Case:
    return Case(*[When(pk=pk, then=Value(text or "")) for pk, text in values.items()], output_field=TextField())
