"""Automation benchmark: 100,000 subscribers enter a 3-step automation at once; the beat's
advance walks them through it.

    make bench NAME=automation      (BENCH_AUTOMATION_SUBSCRIBERS to change the size)

The automation: send a message, wait one hour, send another. Everyone enters in one statement
(the set-based enter of a trigger), then `automations_advance` (the beat task's body) runs until
nothing is due: the first message step for everyone (deliveries INSERT ... SELECT into the step's
send, enqueued to an in-memory broker: nobody sends, this measures the advance), then the wait.
The clock (core.clock) then moves one hour on and the advance runs the last step.

Headline: step-advance throughput in subscriber-steps per second over both runs (target >= 2,000/s).
Beside it: lateness p95 of due steps (how long after its due time each step ran; target < 60 s),
and the time of the entry.
"""

from __future__ import annotations

import os
import statistics
import time

from bench import common

common.use_services(database="bulletin_bench_automation", redis_db=15)
os.environ["CELERY_BROKER_URL"] = "memory://"

SUBSCRIBERS = int(os.environ.get("BENCH_AUTOMATION_SUBSCRIBERS", "100000"))


def main() -> None:
    common.django_setup()
    common.ensure_database()
    common.truncate_app_tables()
    from datetime import timedelta

    from bench import datagen
    from channels_app.models import Channel, Delivery
    from core.clock import clock
    from publishing.automation_models import AutomationEnrollment
    from publishing.services.automations.advance import automations_advance
    from publishing.services.automations.definitions import automation_create
    from publishing.services.automations.enroll import _enter
    from publishing.services.transactional import message_template_create
    from subscribers.models import Subscriber, Topic

    topic = Topic.objects.create(slug="news", name="News")
    datagen.subscribers(SUBSCRIBERS, topic_id=topic.pk)
    channel = Channel.objects.create(
        name="Bench email", kind="email", is_default=True, config={"esp": "outbox", "from_email": "b@example.com"}
    )
    hello = message_template_create(
        actor=None, name="hello", channel=channel, subject="Hi", body="Hello {{ subscriber.first_name }}"
    )
    later = message_template_create(
        actor=None, name="later", channel=channel, subject="Later", body="Again, {{ subscriber.name }}"
    )
    automation = automation_create(
        actor=None, name="Bench", trigger="manual", is_active=True,
        steps=[{"kind": "send", "template": hello}, {"kind": "wait", "wait": timedelta(hours=1)},
               {"kind": "send", "template": later}],
    )  # fmt: skip

    started = time.perf_counter()
    entered = _enter(automation, f"SELECT id FROM {Subscriber._meta.db_table}", [])
    enter_seconds = time.perf_counter() - started

    started = time.perf_counter()
    first = automations_advance(batch=5000)
    clock.advance(3600)
    second = automations_advance(batch=5000)
    seconds = time.perf_counter() - started
    clock.reset()

    steps = first.claimed + second.claimed
    lateness = sorted(first.lateness + second.lateness)
    p95 = lateness[int(0.95 * (len(lateness) - 1))] if lateness else 0.0
    completed = AutomationEnrollment.objects.filter(state="completed").count()
    deliveries = Delivery.objects.count()
    assert entered == SUBSCRIBERS and completed == SUBSCRIBERS and deliveries == 2 * SUBSCRIBERS, (
        entered, completed, deliveries,
    )  # fmt: skip
    common.report(
        {
            "name": "automation",
            "value": round(steps / seconds, 1),
            "unit": "subscriber-steps/s",
            "target": ">= 2000",
            "lateness_p95_s": round(p95, 2),
            "lateness_target": "< 60 s",
            "lateness_median_s": round(statistics.median(lateness), 2) if lateness else 0.0,
            "subscribers": SUBSCRIBERS,
            "step_advances": steps,
            "advance_seconds": round(seconds, 2),
            "enter_seconds": round(enter_seconds, 2),
            "deliveries": deliveries,
        }
    )


if __name__ == "__main__":
    main()
