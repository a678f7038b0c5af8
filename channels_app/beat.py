"""Periodic tasks of the send pipeline (see core.periodic)."""

PERIODIC_TASKS = [
    {
        "name": "Sweep deliveries (expired leases, due retries, lost messages)",
        "task": "channels_app.tasks.deliveries_sweep_task",
        "every_seconds": 5,
        "queue": "default",
    },
    {
        "name": "Fold delivery counts (PostgreSQL)",
        "task": "channels_app.tasks.delivery_counts_compact_task",
        "every_seconds": 60,
        "queue": "default",
    },
    {
        "name": "Deliver outbound events (due retries, expired leases, send.completed)",
        "task": "channels_app.tasks.event_deliveries_sweep_task",
        "every_seconds": 5,
        "queue": "default",
    },
    {
        "name": "Check From domains' health (SPF, DKIM, DMARC, List-Unsubscribe)",
        "task": "channels_app.tasks.domain_health_refresh_task",
        "crontab": {"minute": "17", "hour": "4"},
        "queue": "default",
    },
]
