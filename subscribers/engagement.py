"""Engagement tiers, derived from `Subscriber.engagement_score` and the subscriber's age.

    active   score >= ENGAGEMENT_TIER_ACTIVE_MIN (default 2.0: about two recent human opens, or
             one recent click; see analytics.services.engagement for how the score is made)
    new      otherwise, joined less than ENGAGEMENT_TIER_NEW_DAYS ago (default 30): too soon to judge
    at_risk  otherwise, score >= ENGAGEMENT_TIER_AT_RISK_MIN (default 0.25): engaged, but fading
    dormant  everyone else

Rules are tried in that order, so every subscriber has exactly one tier. The same definition
exists twice, on purpose: `engagement_tier` for one subscriber in Python (the admin, the API)
and `engagement_tier_q` as SQL conditions (segments, analytics counts); tests pin them equal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q


class EngagementTier(models.TextChoices):
    NEW = "new", "New"
    ACTIVE = "active", "Active"
    AT_RISK = "at_risk", "At risk"
    DORMANT = "dormant", "Dormant"


def tier_thresholds() -> dict[str, float]:
    return {
        "active_min": float(settings.ENGAGEMENT_TIER_ACTIVE_MIN),
        "at_risk_min": float(settings.ENGAGEMENT_TIER_AT_RISK_MIN),
        "new_days": float(settings.ENGAGEMENT_TIER_NEW_DAYS),
    }


def engagement_tier(*, score: float, created_at: datetime, now: datetime) -> str:
    t = tier_thresholds()
    if score >= t["active_min"]:
        return EngagementTier.ACTIVE
    if created_at > now - timedelta(days=t["new_days"]):
        return EngagementTier.NEW
    if score >= t["at_risk_min"]:
        return EngagementTier.AT_RISK
    return EngagementTier.DORMANT


def engagement_tier_q(tier: str, *, now: datetime, prefix: str = "") -> Q:
    """SQL conditions on a Subscriber (or on `<prefix>` fields of a related one) for one tier."""
    t = tier_thresholds()
    score, created = f"{prefix}engagement_score", f"{prefix}created_at"
    young = Q(**{f"{created}__gt": now - timedelta(days=t["new_days"])})
    active = Q(**{f"{score}__gte": t["active_min"]})
    if tier == EngagementTier.ACTIVE:
        return active
    if tier == EngagementTier.NEW:
        return ~active & young
    at_risk = Q(**{f"{score}__gte": t["at_risk_min"]})
    if tier == EngagementTier.AT_RISK:
        return ~active & ~young & at_risk
    return ~active & ~young & ~at_risk
