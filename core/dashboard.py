"""The admin landing page: recent sends with their progress, dead letters, guard trips and
subscriber growth. Every read here is bounded by an index or a LIMIT, so the page costs the
same at a million subscribers as at ten."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate

from analytics.charts import Series, line_chart
from analytics.models import GuardTrip
from channels_app.models import Delivery, Send
from channels_app.selectors import delivery_counts
from core.admin_lists import COUNT_CAP, EstimatedCountPaginator
from core.clock import clock
from subscribers.models import Subscriber

RECENT_SENDS = 8
GROWTH_DAYS = 14
# A delivery in one of these states is finished, whatever the outcome.
FINISHED = {"sent", "delivered", "bounced", "complained", "failed", "dead"}


@dataclass(frozen=True)
class SendProgress:
    send: Send
    total: int
    finished: int
    failed: int

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 0


def recent_sends() -> list[SendProgress]:
    sends = list(Send.objects.select_related("publication").order_by("-created_at")[:RECENT_SENDS])
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for send_id, _channel, state, n in delivery_counts(send_ids=[s.pk for s in sends]):
        totals[send_id][state] += n
    rows = []
    for send in sends:
        states = totals[send.pk]
        total = max(send.audience_size, sum(states.values()))
        finished = sum(n for state, n in states.items() if state in FINISHED)
        failed = states["failed"] + states["dead"] + states["bounced"] + states["complained"]
        rows.append(SendProgress(send=send, total=total, finished=finished, failed=failed))
    return rows


def dead_letter_count() -> int:
    """Dead deliveries, counted up to COUNT_CAP (the (state, updated_at) index answers it)."""
    return Delivery.objects.filter(state=Delivery.State.DEAD).order_by()[: COUNT_CAP + 1].count()


def subscriber_growth(*, days: int = GROWTH_DAYS) -> dict:
    """New subscribers per day over the last `days` days (the created_at index), the estimated
    total and a chart."""
    today = clock.now().date()
    start = today - timedelta(days=days - 1)
    since = datetime.combine(start, time.min, tzinfo=UTC)  # a range the created_at index answers
    per_day = dict(
        Subscriber.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values_list("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    dates = [start + timedelta(days=i) for i in range(days)]
    values = [per_day.get(day, 0) for day in dates]
    chart = line_chart(
        title=f"New subscribers per day, {dates[0]:%d %b} to {dates[-1]:%d %b}",
        labels=[f"{day.day}" for day in dates],
        series=[Series("New subscribers", values)],
        width=720,
        height=200,
    )
    total = EstimatedCountPaginator(Subscriber.objects.all(), 1).count
    return {"new": sum(values), "total": total, "chart": chart}


def admin_dashboard() -> dict:
    return {
        "sends": recent_sends(),
        "dead_letters": dead_letter_count(),
        "count_cap": COUNT_CAP,
        "guard_trips": list(GuardTrip.objects.select_related("send", "channel").order_by("-created_at")[:5]),
        "growth": subscriber_growth(),
    }
