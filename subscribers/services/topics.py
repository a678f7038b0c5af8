"""Topic changes that segments and automations depend on: a segment names a topic by slug (a
`topic` condition, or behaviour scoped to a topic), and so does a "joined a topic" automation
trigger. Renaming a topic rewrites those in the same transaction; deleting one they name is
refused (its subscriptions would go with it, and they would silently match nobody)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import ProtectedError

from core.exceptions import ApplicationError
from core.roles import Role, role_require
from subscribers.models import Segment, Topic
from subscribers.selectors import segments_with_condition


@transaction.atomic
def topic_update(*, topic: Topic, actor, **fields: Any) -> Topic:
    """Change a topic's fields (validated by the caller's form or serializer); a new slug is
    carried into every segment that names the old one."""
    role_require(actor, Role.EDITOR, "Changing a topic")
    topic = Topic.objects.select_for_update().get(pk=topic.pk)
    old_slug = topic.slug
    for name, value in fields.items():
        setattr(topic, name, value)
    topic.save(update_fields=list(fields))
    if topic.slug != old_slug:
        for segment in _segments_naming(old_slug):
            segment.rules = _renamed(segment.rules, old_slug, topic.slug)
            segment.save(update_fields=["rules", "updated_at"])
        for automation in _automations_triggered_by(old_slug):
            automation.trigger_config = {**automation.trigger_config, "topic": topic.slug}
            automation.save(update_fields=["trigger_config", "updated_at"])
    return topic


@transaction.atomic
def topic_delete(*, topic: Topic, actor) -> None:
    """Refused while a segment or an automation names it (its subscriptions would go with it and
    they would silently match nobody); automation steps that add or remove it hold it too."""
    role_require(actor, Role.EDITOR, "Deleting a topic")
    users = [f"segment {segment.name}" for segment in _segments_naming(topic.slug)]
    users += [f"automation {automation.name}" for automation in _automations_triggered_by(topic.slug)]
    if users:
        raise ApplicationError(f"In use by {', '.join(users[:10])}. Change them first.", status_code=409)
    try:
        with transaction.atomic():
            topic.delete()
    except ProtectedError as exc:  # an automation step adds or removes it
        raise ApplicationError(
            "Automation steps add or remove this topic. Change them first.", status_code=409
        ) from exc


def _segments_naming(slug: str) -> list[Segment]:
    return segments_with_condition(lambda node: node.get("topic") == slug, lock=True)


def _automations_triggered_by(slug: str) -> list:
    from publishing.automation_models import Automation, AutomationTrigger

    return list(
        Automation.objects.select_for_update().filter(
            trigger=AutomationTrigger.TOPIC_JOINED, trigger_config__topic=slug
        )
    )


def _renamed(node: Any, old: str, new: str) -> Any:
    """A copy of the tree with `topic` keys equal to `old` set to `new` (topic and activity nodes)."""
    if isinstance(node, list):
        return [_renamed(child, old, new) for child in node]
    if not isinstance(node, dict):
        return node
    copy = {key: _renamed(value, old, new) for key, value in node.items()}
    if copy.get("topic") == old and copy.get("type") in ("topic", "activity"):
        copy["topic"] = new
    return copy
