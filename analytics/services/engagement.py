"""The engagement score and the daily count of subscribers per engagement tier (nightly beat).

A minimal, documented score so engagement tiers mean something until a fuller model replaces it:

    score = Σ over the subscriber's human opens and clicks of the last ENGAGEMENT_SCORE_LOOKBACK_DAYS
            weight × 0.5 ** (age in days / ENGAGEMENT_SCORE_HALF_LIFE_DAYS)
    weight = 1 for an open, ENGAGEMENT_SCORE_CLICK_WEIGHT for a click

Machine opens and clicks (analytics.services.useragents: Apple MPP, scanners, link previews) never
count. One UPDATE statement recomputes everyone; tiers (subscribers.engagement) then read it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from analytics.models import EngagementTierSnapshot
from publishing.services.ranking import age_days_sql
from subscribers.engagement import EngagementTier, engagement_tier_q
from subscribers.models import Subscriber

_SCORES = """
    SELECT d.subscriber_id AS id,
           ROUND(CAST(SUM(CASE WHEN e.kind = 'click' THEN %s ELSE 1.0 END
                          * POWER(0.5, {age} / %s)) AS numeric), 4) AS score
      FROM analytics_engagementevent e
      JOIN channels_app_delivery d ON d.id = e.delivery_id
     WHERE e.kind IN ('open', 'click') AND e.is_machine = %s AND e.occurred_at > %s AND e.occurred_at <= %s
       AND d.subscriber_id IS NOT NULL
     GROUP BY d.subscriber_id
"""


@transaction.atomic
def engagement_scores_update(*, now: datetime | None = None) -> int:
    """Recompute every subscriber's score; returns how many changed. Then record today's tiers."""
    now = now or timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    since = now - timedelta(days=settings.ENGAGEMENT_SCORE_LOOKBACK_DAYS)
    scores = _SCORES.format(age=age_days_sql("e.occurred_at"))
    params = [
        settings.ENGAGEMENT_SCORE_CLICK_WEIGHT,
        adapt(now),
        settings.ENGAGEMENT_SCORE_HALF_LIFE_DAYS,
        False,
        adapt(since),
        adapt(now),
    ]
    table = Subscriber._meta.db_table
    # Identifiers are our own tables; every value is a parameter.
    sql = (
        f"UPDATE {table} SET engagement_score = CAST(COALESCE(scores.score, 0) AS double precision) "  # noqa: S608
        f"FROM {table} AS s LEFT JOIN ({scores}) AS scores ON scores.id = s.id "
        f"WHERE {table}.id = s.id AND {table}.engagement_score <> CAST(COALESCE(scores.score, 0) AS double precision)"
    )
    if connection.vendor != "postgresql":
        sql = sql.replace("double precision", "real").replace("numeric", "real")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        changed = cursor.rowcount
    engagement_tiers_snapshot(now=now)
    return changed


def engagement_tier_counts(*, now: datetime | None = None) -> dict[str, int]:
    """Active subscribers per tier now: one aggregate query."""
    now = now or timezone.now()
    counts = Subscriber.objects.filter(status=Subscriber.Status.ACTIVE).aggregate(
        **{tier: Count("pk", filter=engagement_tier_q(tier, now=now)) for tier in EngagementTier.values}
    )
    return {tier: counts[tier] for tier in EngagementTier.values}


def engagement_tiers_snapshot(*, now: datetime | None = None) -> dict[str, int]:
    """Today's (UTC) counts per tier, replacing an earlier snapshot of the same day."""
    now = now or timezone.now()
    counts = engagement_tier_counts(now=now)
    EngagementTierSnapshot.objects.bulk_create(
        [EngagementTierSnapshot(day=now.date(), tier=tier, count=n) for tier, n in counts.items()],
        update_conflicts=True,
        unique_fields=["day", "tier"],
        update_fields=["count", "updated_at"],
    )
    return counts
