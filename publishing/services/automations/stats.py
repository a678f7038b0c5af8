"""Reads for admin and the API: stats per step (entered, sent, opened, clicked, exited, here now)
and who is where."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Q, QuerySet

from analytics.models import EngagementEvent
from publishing.automation_models import Automation, AutomationEnrollment, AutomationStepStat


def automation_step_stats(*, automation: Automation) -> list[dict[str, Any]]:
    """One row per (version, step) that anyone reached, newest version first."""
    here = defaultdict(int)
    for version_id, position, n in (
        AutomationEnrollment.objects.filter(automation=automation, state=AutomationEnrollment.State.ACTIVE)
        .values_list("version_id", "position")
        .annotate(n=Count("pk"))
    ):
        here[(version_id, position)] = n
    engaged = defaultdict(lambda: {"opened": 0, "clicked": 0})
    events = (
        EngagementEvent.objects.filter(
            delivery__send__key__startswith="automation:", delivery__send__audience__automation_id=automation.pk,
            is_machine=False, kind__in=["open", "click"],
        )
        .values_list("delivery__send__key")
        .annotate(
            opened=Count("delivery", distinct=True, filter=Q(kind="open")),
            clicked=Count("delivery", distinct=True, filter=Q(kind="click")),
        )
    )  # fmt: skip
    for key, opened, clicked in events:
        _, version_id, position, _ = key.split(":", 3)
        cell = engaged[(int(version_id), int(position))]
        cell["opened"] += opened
        cell["clicked"] += clicked
    rows = []
    stats = AutomationStepStat.objects.filter(version__automation=automation).select_related("version")
    for stat in stats.order_by("-version__number", "position"):
        steps = stat.version.steps
        key = (stat.version_id, stat.position)
        rows.append(
            {
                "version": stat.version.number,
                "position": stat.position,
                "kind": steps[stat.position]["kind"] if stat.position < len(steps) else "completed",
                "entered": stat.entered,
                "sent": stat.sent,
                **engaged[key],
                "exited": stat.exited,
                "here": here[key],
            }
        )
    return rows


def automation_where(*, automation: Automation, position: int | None = None, state: str = "active") -> QuerySet:
    """Who is where: walks of this automation (at one step), with their subscriber."""
    rows = AutomationEnrollment.objects.filter(automation=automation, state=state).select_related(
        "subscriber", "version"
    )
    if position is not None:
        rows = rows.filter(position=position)
    return rows.order_by("due_at", "pk")
