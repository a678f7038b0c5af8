"""Periodic tasks of publishing (see core.periodic): kept in django-celery-beat, editable in admin."""

PERIODIC_TASKS = [
    {
        "name": "Recover transactional messages (lost tasks, dead workers)",
        "task": "publishing.tasks.messages_recover_task",
        "every_seconds": 60,
        "queue": "alerts",
    },
    {
        "name": "Publish scheduled publications that are due",
        "task": "publishing.tasks.publications_publish_due_task",
        "every_seconds": 15,
        "queue": "alerts",
        "description": "Scheduled alerts go out within seconds of their time, on the alerts queue.",
    },
    {
        "name": "Start send fan-outs that have none running (outbox)",
        "task": "publishing.tasks.sends_fanout_recover_task",
        "every_seconds": 5,
        "queue": "alerts",
        "description": "A publication committed as published while the broker was down starts sending "
        "within seconds of the broker's return.",
    },
    {
        "name": "Build due daily and weekly digests",
        "task": "publishing.tasks.digests_run_task",
        "every_seconds": 300,
        "queue": "bulk",
        "description": "Each subscriber's digest at their local hour; repeated or missed runs are safe "
        "(one digest per subscriber and period).",
    },
    {
        "name": "Decide A/B subject tests and send the winners",
        "task": "publishing.tasks.abtests_decide_due_task",
        "every_seconds": 60,
        "queue": "default",
    },
    {
        "name": "Advance automations (due steps)",
        "task": "publishing.tasks.automations_advance_task",
        "every_seconds": 15,
        "queue": "default",
        "description": "Runs every due automation step once (FOR UPDATE SKIP LOCKED): overlapping runs "
        "share the work, a stopped beat catches up with one message per due step.",
    },
    {
        "name": "Enter subscribers into segment and date automations",
        "task": "publishing.tasks.automations_scan_triggers_task",
        "every_seconds": 300,
        "queue": "default",
    },
]
