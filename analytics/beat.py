"""Periodic tasks of analytics (see core.periodic). Operators edit the schedules in admin."""

PERIODIC_TASKS = [
    {
        "name": "Drain buffered tracking hits into the database",
        "task": "analytics.tasks.tracking_buffer_drain_task",
        "every_seconds": 2,
        "queue": "default",
    },
]
