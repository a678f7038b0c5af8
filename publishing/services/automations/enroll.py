"""Entering and leaving automations.

Triggers enter subscribers set-based (INSERT ... SELECT ... ON CONFLICT DO NOTHING): one walk per
automation and occurrence, so a trigger firing twice (a confirmation replayed, a segment scan run
twice, the same custom event posted again) enters once. Anniversaries enter once a year (the
occurrence is the year). Only active subscribers of an active automation with a version enter;
their first step is due at once and runs on the next beat.

Leaving: an unsubscribe, a suppression or an erasure ends every walk of the subscriber at once
(subscribers' services call `automations_leave`; an erased subscriber's rows go with the row).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction

from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.automation_models import (
    Automation,
    AutomationEnrollment,
    AutomationStepStat,
    AutomationTrigger,
    EnrollmentState,
)
from subscribers.models import Subscriber

logger = logging.getLogger(__name__)
E = AutomationEnrollment._meta.db_table
S = Subscriber._meta.db_table
MAX_EVENT_DATA_BYTES = 16 * 1024


def _enter(automation: Automation, subscribers_sql: str, params: Sequence[Any], *, occurrence_sql: str = "''",
           data: Mapping[str, Any] | None = None, now: datetime | None = None) -> int:  # fmt: skip
    """Enter the subscribers `subscribers_sql` selects (a column `id`); returns how many entered."""
    version_id = automation.current_version_id
    if version_id is None or connection.vendor != "postgresql":  # see advance.automations_supported
        return 0
    now = now or clock.now()
    stat = AutomationStepStat._meta.db_table
    sql = (
        f"WITH entered AS (INSERT INTO {E} (automation_id, version_id, subscriber_id, occurrence, position, state, "  # noqa: S608
        "due_at, data, exit_reason, entered_at, updated_at) "
        f"SELECT %s, %s, q.id, {occurrence_sql}, 0, 'active', %s, %s::jsonb, '', %s, %s FROM ({subscribers_sql}) q "
        f"JOIN {S} s ON s.id = q.id WHERE s.status = 'active' "
        "ON CONFLICT (automation_id, subscriber_id, occurrence) DO NOTHING RETURNING 1) "
        f", bumped AS (INSERT INTO {stat} (version_id, position, entered, sent, exited) "
        "SELECT %s, 0, count(*), 0, 0 FROM entered HAVING count(*) > 0 ON CONFLICT (version_id, position) "
        f"DO UPDATE SET entered = {stat}.entered + EXCLUDED.entered) SELECT count(*) FROM entered"
    )
    args = [
        automation.pk,
        version_id,
        *_occurrence_params(occurrence_sql, now),
        now,
        json.dumps(dict(data or {})),
        now,
        now,
        *params,
        version_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, args)
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _occurrence_params(occurrence_sql: str, now: datetime) -> list:
    return [now] if "%s" in occurrence_sql else []


def automations_trigger(
    *, trigger: str, subscriber_ids: Sequence[int], match: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
) -> int:  # fmt: skip
    """Enter `subscriber_ids` into every active automation of `trigger` whose config matches
    (`match`: e.g. {"topic": "news"}). Called inside the caller's transaction."""
    if not subscriber_ids:
        return 0
    entered = 0
    for automation in Automation.objects.filter(trigger=trigger, is_active=True, current_version__isnull=False):
        config = automation.trigger_config or {}
        if any(str(config.get(k)) != str(v) for k, v in (match or {}).items()):
            continue
        entered += _enter(automation, "SELECT unnest(%s::bigint[]) AS id", [list(subscriber_ids)], data=data)
    return entered


@transaction.atomic
def automation_enroll(
    *, actor, automation: Automation, subscriber: Subscriber, data: Mapping[str, Any] | None = None
) -> AutomationEnrollment:
    """Put one subscriber into an automation by hand (admin, API), whatever its trigger."""
    role_require(actor, Role.EDITOR, "Enrolling subscribers in automations")
    if automation.current_version_id is None:
        raise ApplicationError("This automation has no steps yet.", status_code=409)
    if connection.vendor != "postgresql":
        raise ApplicationError("Automations run on PostgreSQL only (set DATABASE_URL).", status_code=409)
    if subscriber.status != Subscriber.Status.ACTIVE:
        raise ApplicationError.for_fields(
            {"subscriber": f"Only active subscribers enter (this one is {subscriber.status})."}
        )
    entered = _enter(automation, "SELECT %s::bigint AS id", [subscriber.pk], data=data)
    if not entered:
        raise ApplicationError("This subscriber has already been through this automation.", status_code=409)
    return AutomationEnrollment.objects.get(automation=automation, subscriber=subscriber, occurrence="")


@transaction.atomic
def custom_event_post(*, actor, subscriber_id: Any, name: Any, data: Any = None) -> int:
    """A custom event from another system: enters the subscriber into every active automation
    listening for `name`. Returns how many it entered."""
    role_require(actor, Role.EDITOR, "Posting custom events")
    errors: dict[str, str] = {}
    if (
        not isinstance(name, str)
        or not (0 < len(name) <= 80)
        or not name.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        errors["name"] = "1 to 80 letters, digits, '.', '_' or '-'."
    if data is not None and not isinstance(data, dict):
        errors["data"] = "An object."
    elif len(json.dumps(data or {}, default=str)) > MAX_EVENT_DATA_BYTES:
        errors["data"] = f"At most {MAX_EVENT_DATA_BYTES} bytes of JSON."
    subscriber = None
    if isinstance(subscriber_id, int) and not isinstance(subscriber_id, bool):
        subscriber = Subscriber.objects.filter(pk=subscriber_id).first()
    if subscriber is None:
        errors["subscriber"] = "No such subscriber (give its id)."
    if errors:
        raise ApplicationError.for_fields(errors)
    return automations_trigger(
        trigger=AutomationTrigger.CUSTOM_EVENT, subscriber_ids=[subscriber.pk], match={"event": name}, data=data
    )


def automations_leave(*, subscriber_ids: Sequence[int], reason: str) -> int:
    """End every walk of these subscribers now (unsubscribed, suppressed)."""
    rows = AutomationEnrollment.objects.filter(subscriber_id__in=subscriber_ids, state=EnrollmentState.ACTIVE)
    return rows.update(state=EnrollmentState.EXITED, exit_reason=reason[:200], updated_at=clock.now())


# --- beat: triggers checked periodically --------------------------------------------------------


def automations_scan_triggers(*, now: datetime | None = None) -> int:
    """Enter subscribers who entered a segment, or whose date attribute is today."""
    now = now or clock.now()
    entered = 0
    for automation in Automation.objects.filter(
        trigger__in=[AutomationTrigger.SEGMENT_ENTERED, AutomationTrigger.DATE],
        is_active=True,
        current_version__isnull=False,
    ):
        try:
            with transaction.atomic():
                if automation.trigger == AutomationTrigger.SEGMENT_ENTERED:
                    entered += _segment_enter(automation, now)
                else:
                    entered += _date_enter(automation, now)
        except DatabaseError as exc:  # one automation's bad data (a date like 2026-02-31) stops only it
            logger.warning("automation %s: trigger scan failed: %s", automation.pk, exc)
    return entered


def _segment_enter(automation: Automation, now: datetime) -> int:
    from subscribers.models import Segment
    from subscribers.segments.compile import segment_q

    segment = Segment.objects.filter(pk=automation.trigger_config.get("segment")).first()
    if segment is None:
        return 0
    sql, params = Subscriber.objects.filter(segment_q(segment.rules, now=now)).values("pk").query.sql_with_params()
    return _enter(automation, f"SELECT z.pk AS id FROM ({sql}) z", params, now=now)  # noqa: S608


def _date_enter(automation: Automation, now: datetime) -> int:
    """Dates are read as days in UTC: `anniversary` enters on each yearly return of the date
    (plus `offset_days`), once a year; `on_date` once, on the date plus `offset_days`. Values are
    compared as ISO text (YYYY-MM-DD...), never cast, so a value that is not a date matches nothing."""
    config = automation.trigger_config
    key, offset = config["field"], int(config.get("offset_days", 0))
    value = "substring(s.attributes ->> %s from 1 for 10)"
    target = "to_char((%s::timestamptz AT TIME ZONE 'UTC')::date - %s, 'YYYY-MM-DD')"
    base = f"SELECT s.id FROM {S} s WHERE s.status = 'active'"  # noqa: S608
    if config.get("mode", "anniversary") == "anniversary":
        sql = f"{base} AND substring({value} from 5) = substring({target} from 5) AND {value} < {target}"
        params = [key, now, offset, key, now, offset]
        return _enter(
            automation, sql, params, occurrence_sql="to_char(%s::timestamptz AT TIME ZONE 'UTC', 'YYYY')", now=now
        )
    return _enter(automation, f"{base} AND {value} = {target}", [key, now, offset], now=now)
