"""Building automations (editor role): create, update (steps replace the draft), delete, and the
freezing of the draft into an immutable version.

Versions: a change of the steps (or of the templates' current text they send) is a new version
when the automation is saved active. New entrants get the newest version; subscribers already in
flight finish the version they entered (their next steps are what they were promised, and no
step they passed is ever run again). Stopping an automation (is_active=False) stops new entrants
only; in-flight walks go on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import time, timedelta
from typing import Any

from django.db import transaction

from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.automation_models import (
    Automation,
    AutomationStep,
    AutomationStepKind,
    AutomationTrigger,
    AutomationVersion,
)
from publishing.services.quiet_hours import quiet_hours_errors
from publishing.transactional_models import MessageTemplate
from subscribers.models import Segment, Topic

Kind = AutomationStepKind
MAX_STEPS = 50
MAX_WAIT = timedelta(days=366)
DATE_MODES = ("anniversary", "on_date")
_STEP_FIELDS = (
    "kind", "template", "wait", "local_time", "segment", "engagement", "topic", "field_key", "field_value",
    "if_true", "if_false",
)  # fmt: skip


def _step_errors(step: Mapping[str, Any], index: int, count: int) -> dict[str, str]:
    kind, errors = step.get("kind"), {}
    if kind not in Kind.values:
        return {"kind": f"One of {', '.join(Kind.values)}."}
    required = {
        Kind.SEND: ("template", "Choose a message template."),
        Kind.WAIT: ("wait", "Give a duration."),
        Kind.WAIT_UNTIL: ("local_time", "Give a local time of day."),
        Kind.BRANCH_SEGMENT: ("segment", "Choose a segment."),
        Kind.BRANCH_ENGAGED: ("engagement", "Choose opened or clicked."),
        Kind.TOPIC_ADD: ("topic", "Choose a topic."),
        Kind.TOPIC_REMOVE: ("topic", "Choose a topic."),
        Kind.FIELD_SET: ("field_key", "Give the field's key."),
    }.get(kind)
    if required and not step.get(required[0]):
        errors[required[0]] = required[1]
    wait = step.get("wait")
    if kind == Kind.WAIT and wait and (not isinstance(wait, timedelta) or not (timedelta(0) < wait <= MAX_WAIT)):
        errors["wait"] = "A duration between a second and a year."
    if kind == Kind.WAIT_UNTIL and step.get("local_time") and not isinstance(step["local_time"], time):
        errors["local_time"] = "A time of day (HH:MM)."
    if kind == Kind.BRANCH_ENGAGED and step.get("engagement") not in (None, "", "opened", "clicked"):
        errors["engagement"] = "opened or clicked."
    for name in ("if_true", "if_false"):
        target = step.get(name)
        # Forward only: a walk can never loop, so every beat ends and no step runs twice.
        if target is not None and not (index < int(target) < count):
            errors[name] = f"A later step: a position between {index + 1} and {count - 1}."
    return errors


def _trigger_errors(trigger: str, config: Any) -> dict[str, str]:
    if trigger not in AutomationTrigger.values:
        return {"trigger": f"One of {', '.join(AutomationTrigger.values)}."}
    if not isinstance(config, dict):
        return {"trigger_config": "An object."}
    need = {
        AutomationTrigger.TOPIC_JOINED: "topic",
        AutomationTrigger.FIELD_CHANGED: "field",
        AutomationTrigger.SEGMENT_ENTERED: "segment",
        AutomationTrigger.CUSTOM_EVENT: "event",
        AutomationTrigger.DATE: "field",
    }.get(trigger)
    if need and not config.get(need):
        return {"trigger_config": f"This trigger needs {need!r}."}
    if trigger == AutomationTrigger.TOPIC_JOINED and not Topic.objects.filter(slug=config["topic"]).exists():
        return {"trigger_config": f"No topic {config['topic']!r}."}
    if trigger == AutomationTrigger.SEGMENT_ENTERED and not Segment.objects.filter(pk=_int(config["segment"])).exists():
        return {"trigger_config": f"No segment {config['segment']!r}."}
    if trigger == AutomationTrigger.DATE:
        if config.get("mode", "anniversary") not in DATE_MODES:
            return {"trigger_config": f"mode: one of {', '.join(DATE_MODES)}."}
        if not isinstance(config.get("offset_days", 0), int) or abs(config.get("offset_days", 0)) > 365:
            return {"trigger_config": "offset_days: a whole number of days, at most 365 either way."}
    return {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


AUTOMATION_FIELDS = (
    "name", "description", "trigger", "trigger_config", "is_active", "quiet_hours_start", "quiet_hours_end",
)  # fmt: skip


def automation_validate(
    *, name: str, trigger: str, trigger_config: Any, steps: Sequence[Mapping[str, Any]], exclude_pk=None,
    quiet_hours: Mapping[str, Any] | None = None,
) -> None:  # fmt: skip
    errors: dict[str, Any] = dict(quiet_hours_errors(dict(quiet_hours or {})))
    if not (name or "").strip() or len(name) > 120:
        errors["name"] = ["Give a name (at most 120 characters)."]
    elif Automation.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = ["An automation with this name exists."]
    errors.update({k: [v] for k, v in _trigger_errors(trigger, trigger_config).items()})
    if len(steps) > MAX_STEPS:
        errors["steps"] = [f"At most {MAX_STEPS} steps."]
    for index, step in enumerate(steps):
        for field, problem in _step_errors(step, index, len(steps)).items():
            errors[f"steps[{index}].{field}"] = [problem]
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid automation")


@transaction.atomic
def automation_create(
    *, actor, name: str, trigger: str, trigger_config: dict | None = None, steps: Sequence[Mapping[str, Any]] = (),
    description: str = "", is_active: bool = False, quiet_hours_start=None, quiet_hours_end=None,
) -> Automation:  # fmt: skip
    role_require(actor, Role.EDITOR, "Managing automations")
    trigger_config = trigger_config or {}
    quiet = {"quiet_hours_start": quiet_hours_start, "quiet_hours_end": quiet_hours_end}
    automation_validate(name=name, trigger=trigger, trigger_config=trigger_config, steps=steps, quiet_hours=quiet)
    automation = Automation.objects.create(
        name=name, description=description, trigger=trigger, trigger_config=trigger_config, is_active=is_active,
        **quiet,
    )  # fmt: skip
    _steps_replace(automation, steps)
    automation_freeze(automation=automation, actor=actor)
    return automation


@transaction.atomic
def automation_update(
    *, actor, automation: Automation, steps: Sequence[Mapping[str, Any]] | None = None, **fields: Any
) -> Automation:
    """Change the given fields; `steps` replaces the draft's steps. A changed draft becomes a new
    version for new entrants; those in flight keep theirs."""
    role_require(actor, Role.EDITOR, "Managing automations")
    unknown = set(fields) - set(AUTOMATION_FIELDS)
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(sorted(unknown), "cannot be changed"))
    automation = Automation.objects.select_for_update().get(pk=automation.pk)
    merged = {k: fields.get(k, getattr(automation, k)) for k in AUTOMATION_FIELDS}
    current_steps = steps if steps is not None else [step_as_input(s) for s in automation.steps.all()]
    automation_validate(
        name=merged["name"], trigger=merged["trigger"], trigger_config=merged["trigger_config"],
        steps=current_steps, exclude_pk=automation.pk,
        quiet_hours={k: merged[k] for k in ("quiet_hours_start", "quiet_hours_end")},
    )  # fmt: skip
    for key, value in merged.items():
        setattr(automation, key, value)
    automation.save(update_fields=[*merged, "updated_at"])
    if steps is not None:
        _steps_replace(automation, steps)
    automation_freeze(automation=automation, actor=actor)
    return automation


@transaction.atomic
def automation_delete(*, actor, automation: Automation) -> None:
    role_require(actor, Role.EDITOR, "Managing automations")
    if automation.enrollments.exists():
        raise ApplicationError(
            "Subscribers have walked this automation; deactivate it instead (its record is kept).", status_code=409
        )
    Automation.objects.filter(pk=automation.pk).update(current_version=None)
    automation.delete()


def step_as_input(step: AutomationStep) -> dict[str, Any]:
    return {name: getattr(step, name) for name in _STEP_FIELDS}


def _steps_replace(automation: Automation, steps: Sequence[Mapping[str, Any]]) -> None:
    automation.steps.all().delete()
    AutomationStep.objects.bulk_create(
        [
            AutomationStep(automation=automation, position=i, **{k: step.get(k) for k in _STEP_FIELDS if k in step})
            for i, step in enumerate(steps)
        ]
    )


def frozen_steps(automation: Automation) -> list[dict[str, Any]]:
    """The draft as a version keeps it: templates pinned to their current version."""
    steps = []
    for step in automation.steps.select_related("template").order_by("position"):
        template: MessageTemplate | None = step.template
        steps.append(
            {
                "kind": step.kind,
                "template_version_id": template.current.pk if template and template.current else None,
                "channel_id": template.channel_id if template else None,
                "wait_seconds": int(step.wait.total_seconds()) if step.wait else None,
                "local_time": step.local_time.strftime("%H:%M") if isinstance(step.local_time, time) else None,
                "segment_id": step.segment_id,
                "engagement": step.engagement or None,
                "topic_id": step.topic_id,
                "field_key": step.field_key or None,
                "field_value": step.field_value,
                "if_true": step.if_true,
                "if_false": step.if_false,
            }
        )
    return steps


def automation_freeze(*, automation: Automation, actor=None) -> AutomationVersion | None:
    """A new version when the draft differs from the current one (nothing when it is the same)."""
    steps = frozen_steps(automation)
    current = automation.current_version
    if current is not None and current.steps == steps:
        return None
    if not steps:
        return None
    number = (current.number if current else 0) + 1
    version = AutomationVersion.objects.create(
        automation=automation, number=number, steps=steps, created_by=actor if getattr(actor, "pk", None) else None
    )
    automation.current_version = version
    automation.save(update_fields=["current_version", "updated_at"])
    return version
