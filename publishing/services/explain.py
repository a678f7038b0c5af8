"""Why a subscriber's digest lists what it lists: every candidate with its score components, the
window, and the digest as it would be rendered now (the same ranking and renderer the beat uses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from channels_app.models import Channel, Send
from channels_app.rendering import DeliveryRow
from publishing.services.digest_content import DigestRenderer, digest_content
from publishing.services.digests import digest_selection, digests_history
from publishing.services.ranking import (
    ScoredItem,
    candidates_load,
    candidates_prepare,
    candidates_rank,
    subscriber_profiles,
)
from subscribers.models import EMAIL_KIND, Subscriber


@dataclass(frozen=True)
class ExplainedItem:
    rank: int
    item: ScoredItem
    weighted: dict[str, float]
    in_digest: bool
    reason: str


@dataclass(frozen=True)
class DigestExplanation:
    subscriber: Subscriber
    frequency: str
    now: datetime
    window_start: datetime
    followed_topic_ids: set[int]
    clicks: dict[int, float]
    items: list[ExplainedItem]
    email: tuple[str, str, str] | None  # subject, html, text of the digest it would get now


def digest_explain(*, subscriber: Subscriber, frequency: str, now: datetime | None = None) -> DigestExplanation:
    now = now or timezone.now()
    profile = subscriber_profiles(subscriber_ids=[subscriber.pk], frequencies=[frequency], now=now)[subscriber.pk]
    history = digests_history([subscriber.pk], now).get(subscriber.pk, [])
    candidates = candidates_load(since=now - timedelta(days=settings.DIGEST_MAX_LOOKBACK_DAYS), until=now)
    prepared = candidates_prepare(candidates=candidates, now=now)
    ranked = candidates_rank(profile=profile, candidates=prepared, now=now)
    start, sent_before, selected = digest_selection(
        frequency=frequency, profile=profile, history=history, candidates=prepared, now=now
    )
    chosen = {item.publication_id for item in selected}
    items = []
    for rank, item in enumerate(ranked, start=1):
        if item.publication_id in chosen:
            reason = "in the digest"
        elif item.publication_id in sent_before:
            reason = "sent in an earlier digest"
        elif item.published_at <= start:
            reason = "published before the last digest"
        else:
            reason = f"below the top {settings.DIGEST_TOP_N}"
        items.append(ExplainedItem(rank, item, item.components(), item.publication_id in chosen, reason))
    email = _render(subscriber, frequency, [c for c in candidates if c.id in chosen], candidates, ranked, chosen)
    return DigestExplanation(subscriber, frequency, now, start, profile.topic_ids, profile.clicks, items, email)


def _render(subscriber, frequency, used, candidates, ranked, chosen) -> tuple[str, str, str] | None:
    if not used:
        return None
    send = Send(
        pk=None, kind=Send.Kind.DIGEST, content=digest_content(frequency=frequency, candidates=candidates, used=used)
    )
    channel = Channel(kind=EMAIL_KIND, tracking_enabled=False)  # a preview makes no tracking links
    order = [item.publication_id for item in ranked if item.publication_id in chosen]
    row = DeliveryRow(
        0,
        subscriber.email,
        subscriber.pk,
        subscriber.name,
        subscriber.email,
        subscriber.token_version,
        {"items": order},
    )
    message = DigestRenderer(send=send, channel=channel).render(row)
    return message.template.render(message.variables)
