"""Topic changes that saved segments depend on: a segment names a topic by slug (a `topic`
condition, or behaviour scoped to a topic), so renaming a topic rewrites those segments in the
same transaction, and deleting one that a segment names is refused (its subscriptions would go
with it, and the segment would silently select nobody)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from core.exceptions import ApplicationError
from core.roles import Role, role_require
from subscribers.models import Segment, Topic
from subscribers.segments.rules import segment_conditions


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
    return topic


@transaction.atomic
def topic_delete(*, topic: Topic, actor) -> None:
    role_require(actor, Role.EDITOR, "Deleting a topic")
    using = [segment.name for segment in _segments_naming(topic.slug)]
    if using:
        raise ApplicationError(
            f"Segments name this topic: {', '.join(using[:10])}. Change them first.", status_code=409
        )
    topic.delete()


def _segments_naming(slug: str) -> list[Segment]:
    return [
        segment
        for segment in Segment.objects.select_for_update().only("pk", "name", "rules")
        if any(node.get("topic") == slug for node in segment_conditions(segment.rules))
    ]


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
