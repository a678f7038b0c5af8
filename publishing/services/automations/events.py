"""`automation.completed`: one outbound event per subscriber who walked an automation to its end."""

from __future__ import annotations

from collections.abc import Sequence

from channels_app.event_models import EventType
from channels_app.services.events import subscriber_events_emit_bulk
from publishing.automation_models import Automation


def automation_completed_emit(*, rows: Sequence[tuple[int, int, int]]) -> int:
    """`rows`: (subscriber id, automation id, version id) of the walks that just completed."""
    names = dict(Automation.objects.filter(pk__in={r[1] for r in rows}).values_list("pk", "name"))
    extra = {
        subscriber_id: {
            "automation": {"id": automation_id, "name": names.get(automation_id, ""), "version_id": version_id}
        }
        for subscriber_id, automation_id, version_id in rows
    }
    return subscriber_events_emit_bulk(type=EventType.AUTOMATION_COMPLETED, subscriber_ids=list(extra), extra=extra)
