"""Segments and custom fields: create, change, delete. Editors manage segments; custom field
definitions change what every import and API write accepts, so they need the publisher role.
Roles are checked here, so admin, API and shell agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone

from core.exceptions import ApplicationError
from core.roles import Role
from publishing.services.states import role_require
from subscribers.fields import KEY_PATTERN, FieldSpec, field_value_clean
from subscribers.models import FieldType, Segment, SubscriberField
from subscribers.segments.rules import segment_rules_validate
from subscribers.selectors import audience_count, segment_subscribers, segments_with_condition

SEGMENT_FIELDS = ("name", "description", "rules")
FIELD_FIELDS = ("key", "label", "type", "choices", "default", "subscriber_editable", "help_text")


def _segment_validate(fields: dict[str, Any], *, exclude_pk: int | None = None) -> None:
    unknown = sorted(set(fields) - set(SEGMENT_FIELDS))
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(unknown, "Unknown field."))
    name = fields.get("name")
    if "name" in fields:
        if not isinstance(name, str) or not name.strip() or len(name) > 120:
            raise ApplicationError.for_fields({"name": "A name of 1 to 120 characters is required."})
        if Segment.objects.filter(name=name.strip()).exclude(pk=exclude_pk).exists():
            raise ApplicationError.for_fields({"name": "A segment with this name exists."})
    if "rules" in fields:
        segment_rules_validate(fields["rules"])


@transaction.atomic
def segment_create(*, actor, name: str, rules: dict, description: str = "") -> Segment:
    role_require(actor, Role.EDITOR, "Creating a segment")
    _segment_validate({"name": name, "rules": rules, "description": description})
    creator = actor if getattr(actor, "pk", None) else None
    return Segment.objects.create(name=name.strip(), rules=rules, description=description, created_by=creator)


@transaction.atomic
def segment_update(*, segment: Segment, actor, **fields: Any) -> Segment:
    role_require(actor, Role.EDITOR, "Changing a segment")
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    _segment_validate(fields, exclude_pk=segment.pk)
    if "name" in fields:
        fields["name"] = fields["name"].strip()
    for name, value in fields.items():
        setattr(segment, name, value)
    segment.save(update_fields=[*fields, "updated_at"])
    return segment


@transaction.atomic
def segment_delete(*, segment: Segment, actor) -> None:
    """Refused while a publication (a sent one keeps it as the record of whom it chose), a
    topic's digests or an automation (its trigger or a step) use it."""
    role_require(actor, Role.EDITOR, "Deleting a segment")
    from publishing.automation_models import Automation, AutomationTrigger

    users = [f"topic {t.slug} (digests)" for t in segment.digest_topics.all()]
    users += [f"publication #{p.pk}" for p in (segment.publications.all() | segment.excluded_from.all()).distinct()]
    entered = Automation.objects.filter(trigger=AutomationTrigger.SEGMENT_ENTERED, trigger_config__segment=segment.pk)
    users += [f"automation {a.name} (trigger)" for a in entered]
    if users:
        raise ApplicationError(f"This segment is in use: {', '.join(users[:10])}.", status_code=409)
    try:
        segment.delete()
    except ProtectedError as exc:  # a concurrent use appeared
        raise ApplicationError("This segment is in use.", status_code=409) from exc


def segment_preview(*, rules: dict, page: int = 1, now: datetime | None = None) -> dict[str, Any]:
    """Validate a tree (saved or not) and return how many mailable subscribers it selects now
    and one page of them, newest first: two queries."""
    segment_rules_validate(rules)
    size = settings.SEGMENT_PREVIEW_PAGE_SIZE
    if page < 1:
        raise ApplicationError.for_fields({"page": "Pages start at 1."})
    members = segment_subscribers(rules=rules, now=now or timezone.now())
    rows = members.order_by("-pk").values("id", "email", "name", "status", "attributes", "engagement_score")
    return {
        "count": audience_count(members),  # as publications count it (audience_session)
        "page": page,
        "page_size": size,
        "results": list(rows[(page - 1) * size :][:size]),
    }


# --- Custom fields ---------------------------------------------------------------------------


def _field_validate(fields: dict[str, Any], *, instance: SubscriberField | None = None) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(FIELD_FIELDS))
    errors: dict[str, str] = dict.fromkeys(unknown, "Unknown field.")
    merged = {name: getattr(instance, name) for name in FIELD_FIELDS} if instance else {}
    merged.update(fields)
    key = merged.get("key")
    if not isinstance(key, str) or not KEY_PATTERN.match(key):
        errors["key"] = "Lower-case letters, digits and single _, starting with a letter (at most 50)."
    elif SubscriberField.objects.filter(key=key).exclude(pk=getattr(instance, "pk", None)).exists():
        errors["key"] = "A field with this key exists."
    if instance is not None and "key" in fields and fields["key"] != instance.key:
        errors["key"] = "The key cannot change: subscribers' values and segments use it."
    if not isinstance(merged.get("label"), str) or not merged["label"].strip():
        errors["label"] = "A label is required."
    kind = merged.get("type", FieldType.TEXT)
    if kind not in FieldType.values:
        errors["type"] = f"One of {', '.join(FieldType.values)}."
    choices = merged.get("choices") or []
    if kind == FieldType.CHOICE and (
        not isinstance(choices, list) or not choices or not all(isinstance(c, str) and c for c in choices)
    ):
        errors["choices"] = "A choice field needs a list of non-empty texts."
    if not errors and merged.get("default") is not None:
        try:
            merged["default"] = field_value_clean(FieldSpec(key=key, type=kind, choices=choices), merged["default"])
        except ValidationError as exc:
            errors["default"] = " ".join(exc.messages)
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid custom field")
    return {name: merged[name] for name in fields if name in merged} | {"default": merged.get("default")}


@transaction.atomic
def subscriber_field_create(*, actor, **fields: Any) -> SubscriberField:
    role_require(actor, Role.PUBLISHER, "Defining a custom field")
    cleaned = _field_validate({"type": FieldType.TEXT, **fields})
    return SubscriberField.objects.create(**cleaned)


@transaction.atomic
def subscriber_field_update(*, field: SubscriberField, actor, **fields: Any) -> SubscriberField:
    """Label, default, choices and editability may change; the key and the type may not
    (stored values and segments depend on them)."""
    role_require(actor, Role.PUBLISHER, "Changing a custom field")
    field = SubscriberField.objects.select_for_update().get(pk=field.pk)
    if "type" in fields and fields["type"] != field.type:
        raise ApplicationError.for_fields({"type": "The type cannot change; define a new field instead."})
    cleaned = _field_validate(fields, instance=field)
    if "default" not in fields:
        cleaned.pop("default")
    removed = set(field.choices or []) - set(cleaned.get("choices", field.choices) or [])
    using = _segments_comparing(field.key, values=removed) if field.type == FieldType.CHOICE and removed else []
    if using:
        listed = ", ".join(sorted(removed)[:10])
        message = f"Segments compare {field.key} with {listed}: {', '.join(using[:10])}. Change them first."
        raise ApplicationError(message, {"fields": {"choices": [message]}}, status_code=409)
    for name, value in cleaned.items():
        setattr(field, name, value)
    field.save(update_fields=[*cleaned, "updated_at"])
    return field


@transaction.atomic
def subscriber_field_delete(*, field: SubscriberField, actor) -> None:
    """Refused while a segment compares it (subscribers keep their values as untyped attributes)."""
    role_require(actor, Role.PUBLISHER, "Deleting a custom field")
    using = _segments_comparing(field.key)
    if using:
        raise ApplicationError(f"Segments use this field: {', '.join(using[:10])}.", status_code=409)
    field.delete()


def _segments_comparing(key: str, *, values: set | None = None) -> list[str]:
    """Names of the saved segments with a condition on attribute `key` (with one of `values`,
    when given): what removing the field, or those choices of it, would leave invalid."""

    def compares(node) -> bool:
        if node.get("type") != "attribute" or node.get("key") != key:
            return False
        compared = node.get("value") if isinstance(node.get("value"), list) else [node.get("value")]
        return values is None or bool(values & {v for v in compared if isinstance(v, str)})

    return [segment.name for segment in segments_with_condition(compares)]
