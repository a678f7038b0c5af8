"""When each new delivery of a send may go: send-time optimization, quiet hours, warm-up.

The fan-out asks `send_timing_for` once per send and channel; a send that uses none of them
gets None and its pages go out exactly as before (no extra query per page or delivery). With
any of them, each page's new deliveries get their `next_attempt_at` (the claim's "not due
before") in a few set-based UPDATEs, and only those due now are enqueued; the sweeper enqueues
the others when they come due. Order: the best hour first, then quiet hours push it out of a
window, then warm-up holds it for its identity's daily cap (and restores that time when it lets
the delivery out).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from channels_app.models import Channel, Delivery, Send, WarmupPlan
from channels_app.services.warmup import warmup_hold, warmup_plan_for, warmup_release
from core.clock import clock
from publishing.services.quiet_hours import QuietWindow, quiet_hours_defer, quiet_windows_for
from publishing.services.send_time import LearnedHours, send_time_applies, send_time_assign


@dataclass
class SendTiming:
    send: Send
    quiet_windows: list[QuietWindow]
    learned: LearnedHours | None
    holdout_percent: int
    warmup: WarmupPlan | None

    def schedule(self, delivery_ids: list[int]) -> list[int]:
        """Set the due time of a page of new deliveries; returns those due now."""
        if not delivery_ids:
            return []
        now = clock.now()
        if self.learned is not None:
            send_time_assign(
                send=self.send, delivery_ids=delivery_ids, holdout_percent=self.holdout_percent, learned=self.learned
            )
        quiet_hours_defer(delivery_ids=delivery_ids, windows=self.quiet_windows, now=now)
        if self.warmup is not None:
            warmup_hold(plan=self.warmup, delivery_ids=delivery_ids)
            return []  # let out, best engaged first, once the whole audience exists (`finish`)
        due = Delivery.objects.filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        return sorted(due.filter(pk__in=delivery_ids).values_list("pk", flat=True))

    def finish(self) -> None:
        if self.warmup is not None:
            warmup_release(plan_id=self.warmup.pk)


def send_timing_for(*, send: Send, channel: Channel) -> SendTiming | None:
    publication = send.publication
    windows = quiet_windows_for(send=send) if publication else []
    optimized = send_time_applies(send=send)
    warmup = warmup_plan_for(channel=channel)
    if not windows and not optimized and warmup is None:
        return None
    return SendTiming(
        send=send,
        quiet_windows=windows,
        learned=LearnedHours(clock.now()) if optimized else None,
        holdout_percent=publication.send_time_holdout_percent if optimized else 0,
        warmup=warmup,
    )
