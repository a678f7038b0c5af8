"""The beat schedule, kept in the database by django-celery-beat so operators edit it in admin.

Each app lists its periodic tasks in `<app>/beat.py` as PERIODIC_TASKS. Syncing creates what
is missing and points existing entries at the current task path, but keeps the schedule,
arguments and enabled flag an operator may have changed.
"""

from __future__ import annotations

import importlib
import json

from django.apps import apps
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask


def periodic_task_specs() -> list[dict]:
    specs = []
    for config in apps.get_app_configs():
        try:
            module = importlib.import_module(f"{config.name}.beat")
        except ModuleNotFoundError as exc:
            if exc.name != f"{config.name}.beat":
                raise
            continue
        specs.extend(getattr(module, "PERIODIC_TASKS", []))
    return specs


@transaction.atomic
def periodic_tasks_sync() -> list[str]:
    """Create missing periodic tasks; returns the names created."""
    created = []
    for spec in periodic_task_specs():
        defaults = {
            "task": spec["task"],
            "kwargs": json.dumps(spec.get("kwargs", {})),
            "queue": spec.get("queue"),
            "description": spec.get("description", ""),
            **_schedule(spec),
        }
        task, was_created = PeriodicTask.objects.get_or_create(name=spec["name"], defaults=defaults)
        if was_created:
            created.append(task.name)
        elif task.task != spec["task"]:
            task.task = spec["task"]
            task.save(update_fields=["task"])
    return created


def _schedule(spec: dict) -> dict:
    if "every_seconds" in spec:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=spec["every_seconds"], period=IntervalSchedule.SECONDS
        )
        return {"interval": interval}
    crontab, _ = CrontabSchedule.objects.get_or_create(**spec["crontab"], timezone="UTC")
    return {"crontab": crontab}
