"""Periodic tasks of this app (see core.periodic)."""

PERIODIC_TASKS = [
    {"name": "Worker heartbeat", "task": "core.tasks.worker_heartbeat_task", "every_seconds": 60},
]
