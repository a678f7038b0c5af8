"""A test run: one subscriber walked through an automation's current version with a simulated
clock, writing nothing and sending nothing. It shows what would be sent when, following the same
rules as the advance (waits from when a step runs, local times in the subscriber's zone, pauses
postpone messages, segment branches read the segment now)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from channels_app.models import Channel
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.automation_models import Automation, AutomationStepKind
from publishing.services.automations.advance import EXIT
from publishing.services.automations.preview import step_preview
from subscribers.models import Subscriber, Topic

Kind = AutomationStepKind
MAX_STEPS_RUN = 200


@dataclass(frozen=True)
class SimulatedStep:
    at: datetime
    position: int
    kind: str
    what: str
    channel: str = ""
    subject: str = ""


def next_local_time(now: datetime, zone_name: str, local: str) -> datetime:
    """The next `HH:MM` in the zone after `now` (what the advance computes in SQL)."""
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    hour, minute = (int(part) for part in local.split(":")[:2])
    today = now.astimezone(zone).date()
    for days in (0, 1, 2):
        candidate = datetime.combine(today + timedelta(days=days), time(hour, minute), tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(now.tzinfo)
    raise AssertionError("unreachable")


def automation_simulate(
    *, actor, automation: Automation, subscriber: Subscriber, start: datetime | None = None, engaged: bool = False
) -> list[SimulatedStep]:
    """`engaged`: whether the subscriber is assumed to open and click its messages."""
    role_require(actor, Role.EDITOR, "Test-running automations")
    version = automation.current_version
    if version is None:
        raise ApplicationError("This automation has no steps yet.", status_code=409)
    now, position, last_sent, timeline = start or clock.now(), 0, False, []
    for _ in range(MAX_STEPS_RUN):
        if position >= len(version.steps):
            timeline.append(SimulatedStep(now, EXIT, "end", "Completed: automation.completed is emitted."))
            return timeline
        step, nxt = version.steps[position], position + 1
        kind = step["kind"]
        if kind == Kind.SEND:
            if subscriber.paused_until and subscriber.paused_until > now:
                timeline.append(
                    SimulatedStep(now, position, kind, f"Paused until {subscriber.paused_until:%Y-%m-%d %H:%M} UTC")
                )
                now = subscriber.paused_until
            preview = step_preview(step=step, subscriber=subscriber)
            channel = Channel.objects.filter(pk=step["channel_id"]).values_list("name", flat=True).first() or ""
            timeline.append(SimulatedStep(now, position, kind, "Would send", channel, preview["subject"]))
            last_sent = True
        elif kind == Kind.WAIT:
            now += timedelta(seconds=step["wait_seconds"])
            timeline.append(SimulatedStep(now, position, kind, f"Waited {timedelta(seconds=step['wait_seconds'])}"))
        elif kind == Kind.WAIT_UNTIL:
            now = next_local_time(now, subscriber.timezone, step["local_time"])
            timeline.append(
                SimulatedStep(now, position, kind, f"Waited until {step['local_time']} ({subscriber.timezone})")
            )
        elif kind in (Kind.BRANCH_SEGMENT, Kind.BRANCH_ENGAGED):
            result = _branch(step, subscriber, now, engaged and last_sent)
            nxt = step.get("if_true") if result else step.get("if_false")
            nxt = (position + 1 if result else EXIT) if nxt is None else nxt
            timeline.append(
                SimulatedStep(now, position, kind, f"Condition {'true' if result else 'false'}: go to {_name(nxt)}")
            )
        elif kind == Kind.EXIT:
            timeline.append(SimulatedStep(now, position, kind, "Exit"))
            nxt = EXIT
        else:
            timeline.append(SimulatedStep(now, position, kind, _change(step)))
        position = nxt
    timeline.append(
        SimulatedStep(now, position, "stop", f"Stopped after {MAX_STEPS_RUN} steps (a loop without waits?)")
    )
    return timeline


def _name(position: int) -> str:
    return "the end" if position >= EXIT else f"step {position}"


def _branch(step: dict, subscriber: Subscriber, now: datetime, engaged: bool) -> bool:
    if step["kind"] == Kind.BRANCH_ENGAGED:
        return engaged
    from subscribers.models import Segment
    from subscribers.segments.compile import segment_q

    segment = Segment.objects.filter(pk=step["segment_id"]).first()
    return bool(segment) and Subscriber.objects.filter(segment_q(segment.rules, now=now), pk=subscriber.pk).exists()


def _change(step: dict) -> str:
    if step["kind"] == Kind.FIELD_SET:
        return f"Would set {step['field_key']} = {step['field_value']!r}"
    topic = Topic.objects.filter(pk=step["topic_id"]).values_list("slug", flat=True).first()
    return f"Would {'add' if step['kind'] == Kind.TOPIC_ADD else 'remove'} topic {topic}"
