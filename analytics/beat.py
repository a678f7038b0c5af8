"""Periodic tasks of analytics (see core.periodic). Operators edit the schedules in admin."""

PERIODIC_TASKS = [
    {
        "name": "Drain buffered tracking hits into the database",
        "task": "analytics.tasks.tracking_buffer_drain_task",
        "every_seconds": 2,
        "queue": "feedback",
    },
    {
        "name": "Update analytics rollups",
        "task": "analytics.tasks.rollups_update_task",
        "every_seconds": 60,
        "queue": "default",
    },
    {
        "name": "Deliverability guard: channel bounce and complaint rates",
        "task": "analytics.tasks.guard_channels_check_task",
        "every_seconds": 300,
        "queue": "default",
    },
    {
        "name": "Retry SES notifications waiting for their delivery",
        "task": "analytics.tasks.provider_notifications_retry_task",
        "every_seconds": 60,
        "queue": "feedback",
    },
    {
        "name": "Partitions of deliveries and events: months ahead, retention (PostgreSQL)",
        "task": "analytics.tasks.partitions_maintain_task",
        "crontab": {"minute": "7", "hour": "3"},
        "queue": "default",
    },
    {
        "name": "Delete raw engagement events past their retention",
        "task": "analytics.tasks.events_purge_task",
        "crontab": {"minute": "17", "hour": "3"},
        "queue": "default",
    },
    {
        "name": "Sunset policy: inactive subscribers",
        "task": "analytics.tasks.sunset_apply_task",
        "crontab": {"minute": "41", "hour": "4"},
        "queue": "default",
    },
    {
        "name": "Engagement scores and tier counts",
        "task": "analytics.tasks.engagement_scores_update_task",
        "crontab": {"minute": "23", "hour": "2"},
        "queue": "default",
    },
]
