"""Personalization: which candidate publications a subscriber sees first in a digest, and why.

score = w_topic × topic_match + w_recency × recency + w_quality × quality + w_engagement × engagement

  topic_match  share of the publication's topics the subscriber follows in this digest (0-1)
  recency      0.5 ** (age in hours / RANKING_RECENCY_HALF_LIFE_HOURS), age at ranking time
  quality      the editor's quality score, RANKING_DEFAULT_QUALITY when unset
  engagement   c / (c + RANKING_CLICK_SATURATION), c = the subscriber's human clicks on the
               publication's topics, each worth 0.5 ** (age in days / RANKING_CLICK_HALF_LIFE_DAYS)

Ties (scores equal to 9 decimals) go to the newer publication, then the higher id, so the order
is deterministic. Every component is kept on the result: the admin's "why" page shows them.

Speed: a subscriber's topics and decayed clicks per topic come from ONE SQL query for a whole
batch of subscribers (`subscriber_profiles`); candidates are loaded once per digest run;
scoring is arithmetic on those.

Clicks count for the topics of the publication they lead to: the send's publication (alerts,
newsletters), or for digest clicks the publication whose link was clicked (the event's
`metadata.link`, matched to a canonical URL or an archive URL).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from publishing.models import Publication


@dataclass(frozen=True)
class Candidate:
    id: int
    title: str
    published_at: datetime
    quality_score: float | None
    topic_ids: frozenset[int]
    # The loaded row (topics prefetched) for rendering digest items; not part of ranking.
    publication: Publication | None = field(default=None, compare=False, repr=False)


@dataclass
class SubscriberProfile:
    subscriber_id: int
    topic_ids: set[int] = field(default_factory=set)
    clicks: dict[int, float] = field(default_factory=dict)  # topic id -> decayed human clicks


@dataclass(frozen=True)
class ScoredItem:
    publication_id: int
    title: str
    published_at: datetime
    score: float
    topic_match: float
    recency: float
    quality: float
    engagement: float
    clicks: float

    def components(self) -> dict[str, float]:
        weights = ranking_weights()
        return {name: weights[name] * getattr(self, name) for name in weights}


def ranking_weights() -> dict[str, float]:
    return {
        "topic_match": settings.RANKING_WEIGHT_TOPIC,
        "recency": settings.RANKING_WEIGHT_RECENCY,
        "quality": settings.RANKING_WEIGHT_QUALITY,
        "engagement": settings.RANKING_WEIGHT_ENGAGEMENT,
    }


def candidates_load(*, since: datetime, until: datetime) -> list[Candidate]:
    """Published publications in [since, until] with their topic ids (two queries)."""
    publications = (
        Publication.objects.filter(state=Publication.State.PUBLISHED, published_at__gt=since, published_at__lte=until)
        .defer("body")
        .select_related("segment", "exclude_segment")
        .prefetch_related("topics")
        .order_by("-published_at", "-id")
    )
    return [
        Candidate(p.pk, p.title, p.published_at, p.quality_score, frozenset(t.pk for t in p.topics.all()), p)
        for p in publications
    ]


def age_days_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"(EXTRACT(EPOCH FROM (%s - {column})) / 86400.0)"
    return f"(julianday(%s) - julianday({column}))"


def _link_sql() -> str:
    if connection.vendor == "postgresql":
        return "(e.metadata ->> 'link')"
    return "json_extract(e.metadata, '$.link')"


def subscriber_profiles(
    *, subscriber_ids: Sequence[int], frequencies: Sequence[str], now: datetime, kind: str = "email"
) -> dict[int, SubscriberProfile]:
    """Topics followed on channel `kind` at `frequencies` and decayed human clicks per topic
    (clicks from every channel), for a batch of subscribers, in one SQL query."""
    profiles = {pk: SubscriberProfile(pk) for pk in subscriber_ids}
    if not subscriber_ids:
        return profiles
    ids = ", ".join(["%s"] * len(subscriber_ids))
    kinds = ", ".join(["%s"] * len(frequencies))
    archive_prefix = settings.SITE_URL + "/archive/"
    link = _link_sql()
    sql = f"""
        SELECT s.subscriber_id, s.topic_id, 1, 0.0
          FROM subscribers_subscription s
         WHERE s.subscriber_id IN ({ids}) AND s.channel_kind = %s AND s.frequency IN ({kinds})
        UNION ALL
        SELECT d.subscriber_id, pt.topic_id, 0, SUM(POWER(0.5, {age_days_sql("e.occurred_at")} / %s))
          FROM analytics_engagementevent e
          JOIN channels_app_delivery d ON d.id = e.delivery_id
          JOIN channels_app_send sd ON sd.id = d.send_id
          LEFT JOIN publishing_publication pc
                 ON sd.publication_id IS NULL AND pc.canonical_url <> '' AND pc.canonical_url = {link}
          LEFT JOIN publishing_publication pa
                 ON sd.publication_id IS NULL AND SUBSTR({link}, 1, %s) = %s
                AND pa.slug = RTRIM(SUBSTR({link}, %s), '/')
          JOIN publishing_publication_topics pt ON pt.publication_id = COALESCE(sd.publication_id, pc.id, pa.id)
         WHERE e.kind = 'click' AND e.is_machine = %s AND e.occurred_at > %s AND e.occurred_at <= %s
           AND d.subscriber_id IN ({ids})
         GROUP BY d.subscriber_id, pt.topic_id
    """  # noqa: S608  (placeholders only; identifiers are our own table names)
    adapt = connection.ops.adapt_datetimefield_value
    since = now - timedelta(days=settings.RANKING_CLICK_LOOKBACK_DAYS)
    params = [
        *subscriber_ids,
        kind,
        *frequencies,
        adapt(now),
        settings.RANKING_CLICK_HALF_LIFE_DAYS,
        len(archive_prefix),
        archive_prefix,
        len(archive_prefix) + 1,
        False,
        adapt(since),
        adapt(now),
        *subscriber_ids,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for subscriber_id, topic_id, followed, clicks in cursor.fetchall():
            profile = profiles[subscriber_id]
            if followed:
                profile.topic_ids.add(topic_id)
            else:
                profile.clicks[topic_id] = float(clicks)
    return profiles


@dataclass(frozen=True)
class PreparedCandidates:
    """What does not depend on the subscriber, computed once per run: recency and quality of
    each candidate, and the weights (settings are read once, not a million times)."""

    now: datetime
    weights: dict[str, float]
    saturation: float
    rows: tuple[tuple[Candidate, float, float, float], ...]  # candidate, recency, quality, -timestamp


def candidates_prepare(*, candidates: Iterable[Candidate], now: datetime) -> PreparedCandidates:
    half_life = settings.RANKING_RECENCY_HALF_LIFE_HOURS
    default_quality = settings.RANKING_DEFAULT_QUALITY
    rows = []
    for c in candidates:
        age_hours = max((now - c.published_at).total_seconds() / 3600, 0.0)
        quality = c.quality_score if c.quality_score is not None else default_quality
        rows.append((c, 0.5 ** (age_hours / half_life), quality, -c.published_at.timestamp()))
    return PreparedCandidates(now, ranking_weights(), settings.RANKING_CLICK_SATURATION, tuple(rows))


def candidate_score(*, candidate: Candidate, profile: SubscriberProfile, now: datetime) -> ScoredItem:
    [scored] = _scored(candidates_prepare(candidates=[candidate], now=now), profile, None, frozenset())
    return _item(scored)


def _scored(prepared: PreparedCandidates, profile: SubscriberProfile, since, exclude) -> list[tuple]:
    """(order key, candidate, score, components...) for every eligible candidate; plain tuples,
    since a batch scores about a million of them and only the top N become ScoredItems."""
    weights = prepared.weights
    w_topic, w_recency = weights["topic_match"], weights["recency"]
    w_quality, w_engagement = weights["quality"], weights["engagement"]
    saturation, followed, clicks_by_topic, now = prepared.saturation, profile.topic_ids, profile.clicks, prepared.now
    out = []
    for candidate, recency, quality, newest_first in prepared.rows:
        topics = candidate.topic_ids
        matched = len(topics & followed)
        if (
            not matched
            or candidate.id in exclude
            or (since is not None and candidate.published_at <= since)
            or candidate.published_at > now
        ):
            continue
        clicks = sum(clicks_by_topic.get(t, 0.0) for t in topics) if clicks_by_topic else 0.0
        engagement = clicks / (clicks + saturation) if clicks > 0 else 0.0
        topic_match = matched / len(topics)
        score = w_topic * topic_match + w_recency * recency + w_quality * quality + w_engagement * engagement
        # Ties (to 9 decimals, so float noise cannot reorder) go to the newer, then the higher id.
        key = (-round(score, 9), newest_first, -candidate.id)
        out.append((key, candidate, score, topic_match, recency, quality, engagement, clicks))
    return out


def _item(row: tuple) -> ScoredItem:
    _, candidate, score, topic_match, recency, quality, engagement, clicks = row
    return ScoredItem(
        candidate.id, candidate.title, candidate.published_at, score, topic_match, recency, quality, engagement, clicks
    )


def candidates_rank(
    *,
    profile: SubscriberProfile,
    candidates: Iterable[Candidate] | PreparedCandidates,
    now: datetime,
    since: datetime | None = None,
    exclude: set[int] | frozenset[int] = frozenset(),
    limit: int | None = None,
) -> list[ScoredItem]:
    """The candidates in the subscriber's topics published after `since`, best first."""
    if not isinstance(candidates, PreparedCandidates):
        candidates = candidates_prepare(candidates=candidates, now=now)
    scored = _scored(candidates, profile, since, exclude)
    best = heapq.nsmallest(limit, scored, key=_key) if limit is not None else sorted(scored, key=_key)
    return [_item(row) for row in best]


def _key(row: tuple) -> tuple:
    return row[0]
