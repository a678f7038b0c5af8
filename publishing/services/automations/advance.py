"""The beat's advance: due enrollments move on in batches, set-based.

One batch = one transaction: the claim takes up to `batch` due rows so that two beats never take
the same row and never run a step twice (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`; the
embedded SQLite: one writer at a time, see sql.py), rows are grouped by
(version, step, occurrence), and each group is one or two statements (INSERT ... SELECT of the
deliveries of a message step, UPDATE ... FROM of the next position and due time). Counters are
bumped by one upsert per batch, in key order (no deadlock between beats).

Catching up: after an outage every overdue row runs its due step once; waits count from when
the step ran, so a subscriber gets one message per due step and the next one only after its
wait, never a burst. Pause: a message step of a paused subscriber waits until `paused_until`.
The same statements run on PostgreSQL and SQLite; what differs per vendor is in sql.py.
Quiet hours: an automation may have a window (e.g. 21:00-08:00 on the subscriber's clock); a
message step's deliveries that would go inside it are deferred to its end (`next_attempt_at`) and
enqueued by the sweeper then, as a publication's are (publishing.services.quiet_hours).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.db import connection, transaction

from channels_app.models import Channel, Delivery, Send
from channels_app.services.dispatch import deliveries_dispatch, queue_for
from core.clock import clock
from publishing.automation_models import (
    AutomationEnrollment,
    AutomationStepKind,
    AutomationStepStat,
    AutomationVersion,
    EnrollmentState,
)
from publishing.services.automations import sql
from publishing.services.automations.content import data_context_sql, step_content
from publishing.services.automations.local_time import next_local_time
from publishing.services.quiet_hours import automation_quiet_windows, quiet_hours_deferred
from publishing.transactional_models import MessageTemplateVersion
from subscribers.models import Subscriber, Subscription, Suppression

logger = logging.getLogger(__name__)
Kind = AutomationStepKind
E = AutomationEnrollment._meta.db_table
S = Subscriber._meta.db_table
D = Delivery._meta.db_table
EXIT = 32767  # a position past every step: the walk is over
# Rows this batch claimed and did not end. Not written `state = 'active'`: that is the predicate of
# the partial due index, and the planner would then AND-scan the whole index on every update.
STILL_ACTIVE = "state NOT IN ('exited', 'completed')"


@dataclass
class AdvanceResult:
    claimed: int = 0
    sent: int = 0
    completed: int = 0
    exited: int = 0
    lateness: list[float] = field(default_factory=list)

    def add(self, other: AdvanceResult) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.completed += other.completed
        self.exited += other.exited
        self.lateness.extend(other.lateness)


@dataclass
class _Batch:
    now: datetime
    stats: Counter = field(default_factory=Counter)  # (version, position, "entered"|"sent"|"exited") -> n
    result: AdvanceResult = field(default_factory=AdvanceResult)
    dispatch: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))


def automations_advance(*, batch: int = 5000, max_batches: int = 1000, now: datetime | None = None) -> AdvanceResult:
    """Run every due step (beat). Loops until nothing is due or `max_batches` ran."""
    total = AdvanceResult()
    for _ in range(max_batches):
        result = automations_advance_batch(batch=batch, now=now)
        total.add(result)
        if result.claimed == 0:  # steps without a wait run on in the next batch
            break
    return total


def automations_advance_batch(*, batch: int = 5000, now: datetime | None = None) -> AdvanceResult:
    state = _Batch(now=now or clock.now())
    with transaction.atomic():
        rows = _claim(state.now, batch)
        if not rows:
            return state.result
        state.result.claimed = len(rows)
        state.result.lateness = [(state.now - due).total_seconds() for *_, due in rows]
        ids = [r[0] for r in rows]
        _exit_unmailable(state, ids)
        groups: dict[tuple[int, int, str], list[int]] = defaultdict(list)
        for pk, version_id, position, occurrence, _ in rows:
            groups[(version_id, position, occurrence)].append(pk)
        versions = {v.pk: v for v in AutomationVersion.objects.filter(pk__in={k[0] for k in groups})}
        for (version_id, position, occurrence), group in sorted(groups.items()):
            _run_step_or_hold(state, versions[version_id], position, occurrence, group)
        _stats_write(state)
        for channel_id, delivery_ids in state.dispatch.items():
            deliveries_dispatch(
                channel_id=channel_id,
                delivery_ids=delivery_ids,
                queue=queue_for(kind=Send.Kind.AUTOMATION, high_priority=False),
                marked=True,  # the INSERT set enqueued_at
            )
    return state.result


HOLD = timedelta(minutes=5)


class StepNotReady(Exception):
    """The step cannot run now (its channel is disabled): its subscribers wait and it is tried again."""


def _run_step_or_hold(
    state: _Batch, version: AutomationVersion, position: int, occurrence: str, ids: list[int]
) -> None:
    """One group in a savepoint: a step that fails (a bug, a disabled channel) holds its own
    subscribers for a few minutes instead of failing the batch, so it never blocks the others."""
    stats, result, dispatch = (
        Counter(state.stats),
        replace(state.result),
        {k: list(v) for k, v in state.dispatch.items()},
    )
    try:
        with transaction.atomic():
            _run_step(state, version, position, occurrence, ids)
    except Exception as exc:  # noqa: BLE001  (any failure of one step must not stop every automation)
        if not isinstance(exc, StepNotReady):
            logger.exception("automation version %s step %s failed; held for %s", version.pk, position, HOLD)
        else:
            logger.warning("automation version %s step %s held: %s", version.pk, position, exc)
        state.stats, state.result = stats, result
        state.dispatch = defaultdict(list, dispatch)
        _execute(
            f"UPDATE {E} SET due_at = %s WHERE id {sql.in_list()}",  # noqa: S608
            [state.now + HOLD, sql.list_param(ids)],
        )


def _claim(now: datetime, batch: int) -> list[tuple]:
    rows = _execute(sql.claim_sql(E), [EnrollmentState.ACTIVE, now, batch])
    if sql.postgresql():
        return rows
    return [(*row[:4], sql.read_datetime(row[4])) for row in rows]


def _execute(statement: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, sql.adapt_params(params))
        return cursor.fetchall() if cursor.description else []


def _exit_unmailable(state: _Batch, ids: list[int]) -> None:
    """Someone no longer active (unsubscribed, bounced, complained) leaves at once."""
    rows = _execute(
        f"UPDATE {E} AS e SET state = %s, exit_reason = 'subscriber no longer active', updated_at = %s "  # noqa: S608
        f"FROM {S} AS s WHERE e.id {sql.in_list()} AND s.id = e.subscriber_id AND s.status <> 'active' "
        f"{sql.returning('e', 'version_id', 'position')}",
        [EnrollmentState.EXITED, state.now, sql.list_param(ids)],
    )
    for version_id, position in rows:
        state.stats[(version_id, position, "exited")] += 1
    state.result.exited += len(rows)


def _run_step(state: _Batch, version: AutomationVersion, position: int, occurrence: str, ids: list[int]) -> None:
    steps = version.steps
    if position >= len(steps):  # past the end yet active (cannot happen by design): finish them
        _move(state, ids, f"{EXIT}", "%s", [state.now])
        return
    step = steps[position]
    nxt = position + 1 if position + 1 < len(steps) else EXIT  # an int: _move sees the end
    kind = step["kind"]
    if kind == Kind.SEND:
        ids = _postpone_paused(state, ids)
        if ids:
            send_id = _send(state, version, position, occurrence, step, ids)
            _move(state, ids, f"{nxt}", "%s", [state.now], last_send_id=send_id)
    elif kind == Kind.WAIT:
        _move(state, ids, f"{nxt}", "%s", [state.now + timedelta(seconds=step["wait_seconds"])])
    elif kind == Kind.WAIT_UNTIL:
        if sql.postgresql():
            due_sql, params = _local_time_sql(step["local_time"], state.now)
            _move(state, ids, f"{nxt}", due_sql, params, join_subscriber=True)
        else:  # no zone database in SQLite's SQL: one due time per distinct zone, computed here
            for zone, zone_ids in _ids_by_zone(ids).items():
                _move(state, zone_ids, f"{nxt}", "%s", [next_local_time(state.now, zone, step["local_time"])])
    elif kind in (Kind.BRANCH_SEGMENT, Kind.BRANCH_ENGAGED):
        condition, params = _condition_sql(step, state.now)
        yes = step["if_true"] if step.get("if_true") is not None else nxt
        no = step["if_false"] if step.get("if_false") is not None else EXIT
        _move(state, ids, f"CASE WHEN {condition} THEN {int(yes)} ELSE {int(no)} END", "%s", [*params, state.now])
        _complete(state, ids)  # those the branch sent to the end
    elif kind in (Kind.TOPIC_ADD, Kind.TOPIC_REMOVE, Kind.FIELD_SET):
        _change_subscribers(state, kind, step, ids)
        _move(state, ids, f"{nxt}", "%s", [state.now])
    else:  # exit
        _move(state, ids, f"{EXIT}", "%s", [state.now])


def _ids_by_zone(ids: list[int]) -> dict[str, list[int]]:
    rows = _execute(
        f"SELECT e.id, s.timezone FROM {E} e JOIN {S} s ON s.id = e.subscriber_id WHERE e.id {sql.in_list()}",  # noqa: S608
        [sql.list_param(ids)],
    )
    zones: dict[str, list[int]] = defaultdict(list)
    for pk, zone in rows:
        zones[zone or "UTC"].append(pk)
    return zones


def _postpone_paused(state: _Batch, ids: list[int]) -> list[int]:
    paused = _execute(
        f"UPDATE {E} AS e SET due_at = s.paused_until, updated_at = %s FROM {S} AS s "  # noqa: S608
        f"WHERE e.id {sql.in_list()} AND s.id = e.subscriber_id AND s.paused_until > %s "
        f"{sql.returning('e', 'id')}",
        [state.now, sql.list_param(ids), state.now],
    )
    held = {row[0] for row in paused}
    return [pk for pk in ids if pk not in held] if held else ids


def _move(
    state: _Batch, ids: list[int], position_sql: str, due_sql: str, params: list, *,
    join_subscriber: bool = False, last_send_id: int | None = None,
) -> None:  # fmt: skip
    """Set the next position and due time of `ids` (and complete them when that is the end) in
    one UPDATE; count who entered which step."""
    # The subscriber's zone, when the due time needs it: known zone names are read once per
    # statement (a hash join), so an unknown name means UTC instead of failing the batch.
    zones = "WITH zones AS MATERIALIZED (SELECT name FROM pg_timezone_names) " if join_subscriber else ""
    source = f" FROM {S} AS s LEFT JOIN zones z ON z.name = s.timezone" if join_subscriber else ""
    where = " AND s.id = e.subscriber_id" if join_subscriber else ""
    ends = position_sql == str(EXIT)
    extra = ", state = 'completed'" if ends else ""
    extra_params = []
    if last_send_id is not None:
        extra += ", last_send_id = %s"
        extra_params.append(last_send_id)
    rows = _execute(
        f"{zones}UPDATE {E} AS e SET position = {position_sql}, due_at = {due_sql}, updated_at = %s{extra}{source} "  # noqa: S608
        f"WHERE e.id {sql.in_list()} AND {STILL_ACTIVE}{where} "
        f"{sql.returning('e', 'version_id', 'position', 'subscriber_id', 'automation_id')}",
        [*params, state.now, *extra_params, sql.list_param(ids)],
    )
    for version_id, position, *_ in rows:
        state.stats[(version_id, min(position, EXIT), "entered")] += 1
    if ends and rows:
        _completed(
            state, [(subscriber_id, automation_id, version_id) for version_id, _, subscriber_id, automation_id in rows]
        )


def _local_time_sql(local_time: str, now: datetime) -> tuple[str, list]:
    """The next `HH:MM` in the subscriber's zone after now (unknown zones: UTC)."""
    zone = "coalesce(z.name, 'UTC')"  # z: the zones joined by _move
    local_date = f"(%s::timestamptz AT TIME ZONE {zone})::date"

    def on(days: int) -> str:
        return f"((({local_date} + {days}) + %s::time) AT TIME ZONE {zone})"

    return f"CASE WHEN {on(0)} > %s THEN {on(0)} ELSE {on(1)} END", [
        now,
        local_time,
        now,
        now,
        local_time,
        now,
        local_time,
    ]


def _condition_sql(step: dict, now: datetime) -> tuple[str, list]:
    if step["kind"] == Kind.BRANCH_SEGMENT:
        from subscribers.models import Segment
        from subscribers.segments.compile import segment_q

        segment = Segment.objects.filter(pk=step["segment_id"]).first()
        if segment is None:
            return "false", []
        inner, params = (
            Subscriber.objects.filter(segment_q(segment.rules, now=now)).values("pk").query.sql_with_params()
        )
        return f"e.subscriber_id IN ({inner})", list(params)
    kinds = ["click"] if step["engagement"] == "clicked" else ["open", "click"]
    return (
        "EXISTS (SELECT 1 FROM analytics_engagementevent ev JOIN channels_app_delivery d ON d.id = ev.delivery_id "  # noqa: S608
        f"WHERE d.send_id = e.last_send_id AND d.recipient_key = e.subscriber_id AND ev.kind {sql.in_list()} "
        "AND NOT ev.is_machine)",
        [sql.list_param(kinds)],
    )


def _send(
    state: _Batch, version: AutomationVersion, position: int, occurrence: str, step: dict, ids: list[int]
) -> int | None:
    """The step's deliveries, one per subscriber (INSERT ... SELECT), into the step's own send:
    its unique (send, channel, recipient) key makes a replayed step insert nothing."""
    send = step_send(version=version, position=position, occurrence=occurrence, step=step)
    channel = Channel.objects.filter(pk=step["channel_id"]).first()
    if channel is None or not channel.is_active:
        raise StepNotReady(f"channel {step['channel_id']} is disabled or gone")
    context_sql, context_params = data_context_sql(send.content)
    statement = (
        f"INSERT INTO {D} (send_id, period, channel_id, subscriber_id, recipient_key, recipient, state, "  # noqa: S608
        "attempts, last_error, provider_message_id, lease_token, context, enqueued_at, created_at, updated_at) "
        f"SELECT %s, %s, %s, s.id, s.id, s.email, 'queued', 0, '', '', '', {context_sql}, %s, %s, %s "
        f"FROM {E} e JOIN {S} s ON s.id = e.subscriber_id WHERE e.id {sql.in_list()} AND s.status = 'active' "
        f"AND NOT EXISTS (SELECT 1 FROM {Suppression._meta.db_table} x WHERE x.email = s.email) "
        # No conflict target: the key holds the partition month (docs/partitioning.md).
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    period = connection.ops.adapt_datefield_value(send.delivery_period)
    params = [send.pk, period, channel.pk, *context_params, state.now, state.now, state.now, sql.list_param(ids)]
    created = [row[0] for row in _execute(statement, params)]
    state.stats[(version.pk, position, "sent")] += len(created)
    state.result.sent += len(created)
    windows = automation_quiet_windows(version.automation_id)
    deferred = set(quiet_hours_deferred(delivery_ids=created, windows=windows, now=state.now)) if windows else set()
    state.dispatch[channel.pk].extend(pk for pk in created if pk not in deferred)  # the sweeper sends the rest
    return send.pk


def step_send(*, version: AutomationVersion, position: int, occurrence: str, step: dict) -> Send:
    """One send per (version, step, occurrence): open-ended (audience never "ready", so it is never
    completed while subscribers still arrive at the step)."""
    key = f"automation:{version.pk}:{position}:{occurrence}"
    send = Send.objects.filter(key=key).first()
    if send is not None:
        return send
    template_version = MessageTemplateVersion.objects.get(pk=step["template_version_id"])
    send, _ = Send.objects.get_or_create(
        key=key,
        defaults={
            "kind": Send.Kind.AUTOMATION,
            "status": Send.Status.SENDING,
            "subject": template_version.subject[:300],
            "content": step_content(version=template_version),
            "audience": {"automation_id": version.automation_id, "version": version.number, "step": position},
        },
    )
    return send


def _change_subscribers(state: _Batch, kind: str, step: dict, ids: list[int]) -> None:
    if kind == Kind.FIELD_SET:
        value_sql, value_params = sql.json_set_key("attributes", step["field_key"], step["field_value"])
        _execute(
            f"UPDATE {S} AS s SET attributes = {value_sql}, "  # noqa: S608
            f"updated_at = %s FROM {E} AS e WHERE e.id {sql.in_list()} AND s.id = e.subscriber_id",
            [*value_params, state.now, sql.list_param(ids)],
        )
        return
    table = Subscription._meta.db_table
    if kind == Kind.TOPIC_ADD:
        _execute(
            f"INSERT INTO {table} (subscriber_id, topic_id, channel_kind, frequency, created_at, updated_at) "  # noqa: S608
            f"SELECT e.subscriber_id, %s, 'email', 'instant', %s, %s FROM {E} e WHERE e.id {sql.in_list()} "
            "ON CONFLICT (subscriber_id, topic_id, channel_kind) DO UPDATE SET frequency = 'instant', "
            f"updated_at = EXCLUDED.updated_at WHERE {table}.frequency = 'off'",
            [step["topic_id"], state.now, state.now, sql.list_param(ids)],
        )
    else:
        _execute(
            f"UPDATE {table} AS x SET frequency = 'off', updated_at = %s FROM {E} AS e "  # noqa: S608
            f"WHERE e.id {sql.in_list()} AND x.subscriber_id = e.subscriber_id AND x.topic_id = %s",
            [state.now, sql.list_param(ids), step["topic_id"]],
        )


def _complete(state: _Batch, ids: list[int]) -> None:
    rows = _execute(
        f"UPDATE {E} SET state = %s, updated_at = %s WHERE id {sql.in_list()} AND {STILL_ACTIVE} "  # noqa: S608
        "AND position = %s RETURNING subscriber_id, automation_id, version_id",
        [EnrollmentState.COMPLETED, state.now, sql.list_param(ids), EXIT],
    )
    if rows:
        _completed(state, rows)


def _completed(state: _Batch, rows: list[tuple[int, int, int]]) -> None:
    state.result.completed += len(rows)
    from publishing.services.automations.events import automation_completed_emit

    automation_completed_emit(rows=rows)


def _stats_write(state: _Batch) -> None:
    cells: dict[tuple[int, int], Counter] = defaultdict(Counter)
    for (version_id, position, what), n in state.stats.items():
        cells[(version_id, position)][what] += n
    if not cells:
        return
    table = AutomationStepStat._meta.db_table
    values, params = [], []
    for (version_id, position), counts in sorted(cells.items()):  # key order: beats never deadlock
        values.append("(%s, %s, %s, %s, %s)")
        params += [version_id, position, counts["entered"], counts["sent"], counts["exited"]]
    _execute(
        f"INSERT INTO {table} (version_id, position, entered, sent, exited) VALUES {', '.join(values)} "  # noqa: S608
        f"ON CONFLICT (version_id, position) DO UPDATE SET entered = {table}.entered + EXCLUDED.entered, "
        f"sent = {table}.sent + EXCLUDED.sent, exited = {table}.exited + EXCLUDED.exited",
        params,
    )
