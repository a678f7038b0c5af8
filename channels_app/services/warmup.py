"""Warm-up of a sending identity: at most the day's cap goes out, the most engaged first.

    materialization: every new delivery of a warm-up channel is held (a WarmupHold row) and is
      not due before the next UTC day; after the whole audience exists, the day's room is let out
    sweeper (every few seconds, before it looks for due work): each plan first closes the days
      that ended (the schedule advances a step after a good day, goes back one after a day whose
      bounce or complaint rate was over its threshold), then lets out its room for today, best
      engaged first (Subscriber.engagement_score, then id), and puts what is still held off to the
      next day
Letting out is one set-based UPDATE of `next_attempt_at` (back to what it was before the hold:
quiet hours and send-time optimization still apply) and a normal dispatch: the claim and its
exactly-once rules are the same as for any delivery. Nothing is dropped: a held delivery waits,
in order, however many days it takes. A paused or completed plan lets everything out at once.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, F, Q

from channels_app.models import Channel, Delivery, Send, WarmupDay, WarmupHold, WarmupPlan
from channels_app.services.dispatch import deliveries_dispatch, queue_for
from core.clock import clock
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

ACTIVE = WarmupPlan.Status.ACTIVE


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def from_domain_of(channel: Channel) -> str:
    address = str((channel.config or {}).get("from_email", ""))
    return address.rstrip("> ").rpartition("@")[2].lower()


def warmup_plan_for(*, channel: Channel) -> WarmupPlan | None:
    """The active plan that caps `channel` now: its own domain's, else the whole channel's."""
    plans = WarmupPlan.objects.filter(channel=channel, status=ACTIVE, from_domain__in=["", from_domain_of(channel)])
    return max(plans, key=lambda plan: bool(plan.from_domain), default=None)


def warmup_hold(*, plan: WarmupPlan, delivery_ids: list[int]) -> int:
    """Hold new deliveries for the plan's release: not due before the next day meanwhile."""
    if not delivery_ids:
        return 0
    tomorrow = day_start(clock.now().date() + timedelta(days=1))
    rows = Delivery.objects.filter(pk__in=delivery_ids).values_list("pk", "next_attempt_at")
    WarmupHold.objects.bulk_create(
        [WarmupHold(delivery_id=pk, plan=plan, not_before=due) for pk, due in rows], ignore_conflicts=True
    )
    return Delivery.objects.filter(pk__in=delivery_ids).update(next_attempt_at=tomorrow)


def warmups_release(*, now: datetime | None = None) -> int:
    """Every plan that caps or still holds something: close ended days, let out today's room (sweeper)."""
    now = now or clock.now()
    plans = WarmupPlan.objects.filter(Q(status=ACTIVE) | Q(holds__isnull=False)).distinct().values_list("pk", flat=True)
    return sum(len(warmup_release(plan_id=pk, now=now)) for pk in plans)


def warmup_release(*, plan_id: int, now: datetime | None = None) -> list[int]:
    """Let out what fits today (everything when the plan no longer caps); returns and enqueues it."""
    now = now or clock.now()
    with transaction.atomic():
        plan = WarmupPlan.objects.select_for_update().get(pk=plan_id)
        if plan.status == ACTIVE and plan.day != now.date():
            _close_day(plan, today=now.date())
        room = plan.cap - plan.released if plan.status == ACTIVE else None
        released = _let_out(plan, room)
        if plan.status == ACTIVE:
            plan.released += len(released)
            plan.save(update_fields=["released", "updated_at"])
            _wait_for_tomorrow(plan, now)
        _dispatch(_due_now(released, now))
    return [pk for pk, _, _ in released]


def _close_day(plan: WarmupPlan, *, today: date) -> None:
    """The day `plan.day` ended: record it and move the schedule by how it went."""
    if plan.day is not None:
        sent = Delivery.objects.filter(
            channel_id=plan.channel_id, sent_at__gte=day_start(plan.day), sent_at__lt=day_start(plan.day) + timedelta(1)
        ).aggregate(
            sent=Count("pk"),
            bounced=Count("pk", filter=Q(state=Delivery.State.BOUNCED)),
            complained=Count("pk", filter=Q(state=Delivery.State.COMPLAINED)),
        )
        cap = plan.cap
        decision = _decide(plan, **sent)
        WarmupDay.objects.update_or_create(
            plan=plan, day=plan.day, defaults={"cap": cap, "released": plan.released, "decision": decision, **sent}
        )
        logger.info("warm-up %s: day %s %s (%s)", plan.pk, plan.day, decision, sent)
    plan.day, plan.released = today, 0
    plan.save(update_fields=["day", "released", "step", "status", "updated_at"])


def _decide(plan: WarmupPlan, *, sent: int, bounced: int, complained: int) -> str:
    Decision = WarmupDay.Decision
    if not sent:
        return Decision.STAYED
    if bounced / sent > plan.bounce_threshold or complained / sent > plan.complaint_threshold:
        plan.step = max(plan.step - 1, 0)
        return Decision.HELD_BACK
    if plan.step >= len(plan.schedule) - 1:
        plan.status = WarmupPlan.Status.COMPLETED
        return Decision.COMPLETED
    plan.step += 1
    return Decision.ADVANCED


def _let_out(plan: WarmupPlan, room: int | None) -> list[tuple[int, str, bool]]:
    """Held deliveries of sending sends, best engaged first, up to `room` (None: all), made due
    again at their own time; returns (id, send kind, high priority). One UPDATE per distinct
    own time (almost always one: due at once)."""
    if room is not None and room <= 0:
        return []
    holds = WarmupHold.objects.filter(plan=plan)
    waiting = holds.filter(
        delivery_id__in=Delivery.objects.filter(state=Delivery.State.QUEUED, send__status=Send.Status.SENDING).values(
            "pk"
        )
    )
    ranked = waiting.order_by(
        F("delivery__subscriber__engagement_score").desc(nulls_last=True), "delivery_id"
    ).values_list("delivery_id", "not_before")
    chosen = list(ranked if room is None else ranked[:room])
    by_time: dict[datetime | None, list[int]] = {}
    for pk, not_before in chosen:
        by_time.setdefault(not_before, []).append(pk)
    for not_before, ids in by_time.items():
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=not_before)
    ids = [pk for pk, _ in chosen]
    (holds if room is None else holds.filter(delivery_id__in=ids)).delete()  # no cap: stale holds go too
    return list(
        Delivery.objects.filter(pk__in=ids).order_by("pk").values_list("pk", "send__kind", "send__high_priority")
    )


def _due_now(released: list[tuple[int, str, bool]], now: datetime) -> list[tuple[int, str, bool]]:
    """What may go at once: quiet hours are asked again (a day later it may be night for the
    subscriber); the rest is due later, for the sweeper."""
    from publishing.services.quiet_hours import quiet_hours_reapply

    if not released or not quiet_hours_reapply(delivery_ids=[pk for pk, _, _ in released], now=now):
        return released
    later = set(
        Delivery.objects.filter(pk__in=[pk for pk, _, _ in released], next_attempt_at__gt=now).values_list(
            "pk", flat=True
        )
    )
    return [row for row in released if row[0] not in later]


def _wait_for_tomorrow(plan: WarmupPlan, now: datetime) -> None:
    tomorrow = day_start(now.date() + timedelta(days=1))
    held = WarmupHold.objects.filter(plan=plan).values("delivery_id")
    Delivery.objects.filter(pk__in=held, state=Delivery.State.QUEUED, next_attempt_at__lt=tomorrow).update(
        next_attempt_at=tomorrow
    )


def _dispatch(released: list[tuple[int, str, bool]]) -> None:
    by_queue: dict[str, list[int]] = {}
    channel_of = dict(Delivery.objects.filter(pk__in=[pk for pk, _, _ in released]).values_list("pk", "channel_id"))
    for pk, kind, high_priority in released:
        by_queue.setdefault((channel_of[pk], queue_for(kind=kind, high_priority=high_priority)), []).append(pk)
    for (channel_id, queue), ids in by_queue.items():
        deliveries_dispatch(channel_id=channel_id, delivery_ids=sorted(ids), queue=queue)


def warmup_summary(*, plan: WarmupPlan) -> dict:
    """Where the plan stands and what today allows, from the row alone (channel lists)."""
    active = plan.status == ACTIVE
    released = plan.released if plan.day == clock.now().date() else 0
    return {
        "id": plan.pk,
        "from_domain": plan.from_domain,
        "status": plan.status,
        "day": plan.step + 1,
        "days": len(plan.schedule),
        "cap_today": plan.cap if active else None,
        "released_today": released,
        "remaining_today": max(plan.cap - released, 0) if active else None,
    }


def warmup_progress(*, plan: WarmupPlan) -> dict:
    """What admin and the API show: the summary, what waits, the schedule and each day's outcome."""
    return {
        **warmup_summary(plan=plan),
        "channel": plan.channel_id,
        "schedule": plan.schedule,
        "waiting": WarmupHold.objects.filter(plan=plan, delivery__state=Delivery.State.QUEUED).count(),
        "bounce_threshold": plan.bounce_threshold,
        "complaint_threshold": plan.complaint_threshold,
        "history": [
            {
                "day": d.day.isoformat(),
                "cap": d.cap,
                "released": d.released,
                "sent": d.sent,
                "bounced": d.bounced,
                "complained": d.complained,
                "decision": d.decision,
            }
            for d in plan.days.all()[:60]
        ],
    }


MAX_SCHEDULE_DAYS = 365
MAX_DAILY_CAP = 10_000_000


def warmup_plan_validate(*, schedule, bounce_threshold, complaint_threshold, status, step) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not isinstance(schedule, list) or not 1 <= len(schedule) <= MAX_SCHEDULE_DAYS:
        errors["schedule"] = f"A list of 1 to {MAX_SCHEDULE_DAYS} daily caps."
    elif not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_DAILY_CAP for n in schedule):
        errors["schedule"] = f"Every daily cap is a whole number from 1 to {MAX_DAILY_CAP:,}."
    elif step is not None and not (isinstance(step, int) and 0 <= step < len(schedule)):
        errors["step"] = "An index into the schedule (0 is its first day)."
    for name, value in (("bounce_threshold", bounce_threshold), ("complaint_threshold", complaint_threshold)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            errors[name] = "A rate from 0 to 1 (0.05 is 5%)."
    if status not in WarmupPlan.Status.values:
        errors["status"] = f"One of: {', '.join(WarmupPlan.Status.values)}."
    return errors


@transaction.atomic
def warmup_plan_set(*, channel: Channel, actor, data: dict) -> WarmupPlan:
    """Create or edit the warm-up plan of `channel` (+ `from_domain`); admins only."""
    from channels_app.adapters import ADAPTERS
    from core.roles import Role, role_require

    role_require(actor, Role.ADMIN, "Changing a channel's warm-up")
    domain = str(data.get("from_domain", "") or "").strip().lower()
    plan = WarmupPlan.objects.select_for_update().filter(channel=channel, from_domain=domain).first()
    current = plan or WarmupPlan(channel=channel, from_domain=domain)
    values = {
        "schedule": data.get("schedule", current.schedule),
        "bounce_threshold": data.get("bounce_threshold", current.bounce_threshold),
        "complaint_threshold": data.get("complaint_threshold", current.complaint_threshold),
        "status": data.get("status", current.status),
        "step": data.get("step", current.step),
    }
    errors = warmup_plan_validate(**values)
    if domain and ("." not in domain or len(domain) > 253 or any(c.isspace() or c in "@/" for c in domain)):
        errors["from_domain"] = "A domain such as news.example.com, or blank for the whole channel."
    if "from_email" not in getattr(ADAPTERS.get(channel.kind), "config_fields", {}):
        errors["channel"] = "Warm-up caps sending identities with a From address (email channels)."
    if errors:
        raise ApplicationError.for_fields(errors)
    for name, value in values.items():
        setattr(current, name, value)
    current.step = min(current.step, len(current.schedule) - 1)
    if current.pk is None:
        current.save()
    else:
        current.save(update_fields=[*values, "updated_at"])
    return current
