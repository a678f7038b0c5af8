"""What was published recently to an overlapping audience (a shared topic or the same segment):
the publish page warns about it before the publisher confirms, and they may still go ahead."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from core.clock import clock
from publishing.models import Publication

State = Publication.State


def recent_overlaps(*, publication: Publication, now: datetime | None = None) -> QuerySet[Publication]:
    """Publications published in the last PUBLISH_OVERLAP_WARNING_HOURS that share a topic or
    the segment with `publication`, newest first (none when the setting is 0)."""
    hours = settings.PUBLISH_OVERLAP_WARNING_HOURS
    if hours <= 0:
        return Publication.objects.none()
    since = (now or clock.now()) - timedelta(hours=hours)
    topic_ids = list(publication.topics.values_list("pk", flat=True))
    shared = Q(topics__in=topic_ids) if topic_ids else Q(pk__in=[])
    if publication.segment_id is not None:
        shared |= Q(segment_id=publication.segment_id)
    return (
        Publication.objects.filter(shared, state__in=[State.PUBLISHED, State.ARCHIVED], published_at__gte=since)
        .exclude(pk=publication.pk)
        .prefetch_related("topics")
        .select_related("segment")
        .distinct()
        .order_by("-published_at")
    )


def overlap_rows(*, publication: Publication, now: datetime | None = None) -> list[dict]:
    """The warning's rows: what, when, and what it shares (topics by name, the segment)."""
    topic_ids = set(publication.topics.values_list("pk", flat=True))
    rows = []
    for other in recent_overlaps(publication=publication, now=now)[:10]:
        shared = [t.name for t in other.topics.all() if t.pk in topic_ids]
        if publication.segment_id is not None and other.segment_id == publication.segment_id:
            shared.append(f"segment {other.segment}")
        rows.append({"id": other.pk, "title": other.title, "published_at": other.published_at, "shared": shared})
    return rows
