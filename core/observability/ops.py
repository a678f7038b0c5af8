"""The operations watchdog: alerts (through the guard's alert channel and emails) when dead
letters grow, a queue's oldest message waits too long, or beat is late.

It runs from every worker on a timer (signals.OpsWatchdog), not from beat, so a dead beat is
reported too; each problem is alerted at most once per OPS_ALERT_REPEAT_SECONDS whichever
worker sees it first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from core.observability.collectors import Snapshot, snapshot

logger = logging.getLogger(__name__)

LAST_DEAD_LETTERS_KEY = "bulletin:ops:dead-letters"
SWEEPER = "Sweep deliveries (expired leases, due retries, lost messages)"


@dataclass(frozen=True)
class Problem:
    key: str  # one alert per key per repeat period
    text: str


def ops_problems(shot: Snapshot) -> list[Problem]:
    problems = []
    previous = cache.get(LAST_DEAD_LETTERS_KEY)
    cache.set(LAST_DEAD_LETTERS_KEY, shot.dead_letters, timeout=None)
    if previous is not None and shot.dead_letters - previous >= settings.OPS_ALERT_DEAD_LETTERS_GROWTH:
        problems.append(
            Problem(
                "dead-letters",
                f"Dead letters grew from {previous} to {shot.dead_letters} since the last check: "
                "see admin → Dead letters for the reasons.",
            )
        )
    for queue, age in shot.queue_oldest_age.items():
        if age > settings.OPS_ALERT_QUEUE_AGE_SECONDS:
            waiting = shot.queue_messages.get(queue, 0)
            problems.append(
                Problem(
                    f"queue:{queue}",
                    f"The {queue} queue's oldest message has waited {age:.0f} s ({waiting} waiting): "
                    "are its workers running and keeping up?",
                )
            )
    lag = shot.beat_lag.get(SWEEPER)
    if lag is not None and lag > settings.OPS_ALERT_BEAT_LAG_SECONDS:
        problems.append(Problem("beat", f"Beat is {lag:.0f} s late: is exactly one celery beat running?"))
    return problems


def ops_alerts_check() -> list[str]:
    """Check now and alert what is new; returns the alert texts sent."""
    from channels_app.services.alerts import operator_alert

    sent = []
    for problem in ops_problems(snapshot()):
        if cache.add(f"bulletin:ops-alert:{problem.key}", 1, timeout=settings.OPS_ALERT_REPEAT_SECONDS):
            logger.warning("operations alert: %s", problem.text)
            operator_alert(subject=f"Bulletin: {problem.text[:80]}", text=problem.text, event_type="bulletin.ops")
            sent.append(problem.text)
    return sent
