"""Reads of publishing: audiences resolved in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from channels_app.adapters import ADAPTERS, digest_kinds, personal_kinds
from channels_app.models import HANDED_OVER, Channel, Delivery, Send
from channels_app.selectors import delivery_counts
from core.sql import ids_rows, list_param
from publishing.models import Publication, PublicationChecksOverride
from subscribers.models import EMAIL_KIND, Subscriber, Subscription, Topic
from subscribers.segments.compile import segment_q
from subscribers.segments.json_sql import attribute_equals_q
from subscribers.selectors import audience_count, mailable_subscribers


def audience_recipients(
    *,
    kind: str,
    topic_ids: Sequence[int],
    frequencies: Sequence[str],
    subscriber_ids: Sequence[int] | None = None,
    exclude_send_ids: Sequence[int] = (),
    segment: dict | None = None,
    exclude_segment: dict | None = None,
    members: Sequence[int] | None = None,
    after: int = 0,
    upto: int | None = None,
) -> QuerySet[Subscriber]:
    """Mailable subscribers with a subscription of `kind` to one of the topics at one of the
    frequencies, annotated with `address`. One query; no rows are loaded here.
    `exclude_send_ids` leaves out whoever has a delivery in those sends (an A/B test's winner
    goes to everyone the variants did not reach). `segment` keeps only the members of that
    segment tree, `exclude_segment` drops its members; with a segment and no topics, the
    audience is every member with an email address (by email only).
    `after`/`upto` bound the subscriber ids (a keyset page of the fan-out); the bounds are
    repeated inside the subscription subquery so PostgreSQL reads only that page's
    subscriptions instead of hashing the whole table for every page.
    `members` stands for `segment`/`exclude_segment` already evaluated to these ids: the fan-out
    evaluates a segment once per send (`subscribers.selectors.audience_ids`) and pages through
    its members, because a behavioural condition (EXISTS over deliveries and events) costs as
    much for one page as for the whole list. Everything else is checked again per page."""
    field = ADAPTERS[kind].subscriber_field  # where its personal messages go: address, member ID or URL
    now = timezone.now()
    bounds = {"pk__gt": after, **({"pk__lte": upto} if upto is not None else {})}
    recipients = mailable_subscribers(now=now).filter(**bounds).exclude(**{field: ""}).annotate(address=F(field))
    if topic_ids:
        wanted = Subscription.objects.filter(
            subscriber=OuterRef("pk"), topic_id__in=list(topic_ids), channel_kind=kind, frequency__in=list(frequencies)
        ).filter(subscriber_id__gt=after)
        if upto is not None:
            wanted = wanted.filter(subscriber_id__lte=upto)
        recipients = recipients.filter(Exists(wanted))
    elif (segment is None and members is None) or kind != EMAIL_KIND:
        recipients = recipients.filter(pk__lt=0)  # nobody, as a query that still compiles to SQL
    if members is not None:  # one array parameter (PostgreSQL) or JSON text (SQLite), not 10,000
        recipients = recipients.filter(pk__in=RawSQL(ids_rows(), [list_param(members)]))  # noqa: S611 (constant SQL)
    if segment is not None:
        recipients = recipients.filter(segment_q(segment, now=now))
    if exclude_segment is not None:
        recipients = recipients.filter(~segment_q(exclude_segment, now=now))
    if subscriber_ids is not None:
        recipients = recipients.filter(pk__in=list(subscriber_ids))
    if exclude_send_ids:
        reached = Delivery.objects.filter(send_id__in=list(exclude_send_ids), subscriber_id=OuterRef("pk"))
        recipients = recipients.filter(~Exists(reached))
    return recipients.order_by("pk")


def personal_channel(*, kind: str) -> Channel | None:
    """The default active channel carrying personal messages of this kind."""
    return personal_channels(kinds=[kind]).get(kind)


def personal_channels(*, kinds: Sequence[str]) -> dict[str, Channel]:
    """The default active channel of each kind (one at most per kind: a constraint), in one query."""
    rows = Channel.objects.filter(
        kind__in=list(kinds), audience=Channel.Audience.SUBSCRIBERS, is_default=True, is_active=True
    )
    return {channel.kind: channel for channel in rows}


def broadcast_channels(*, topic_ids: Sequence[int]) -> QuerySet[Channel]:
    return (
        Channel.objects.filter(audience=Channel.Audience.BROADCAST, is_active=True, topics__in=list(topic_ids))
        .distinct()
        .order_by("pk")
    )


def publication_list() -> QuerySet[Publication]:
    return (
        Publication.objects.select_related("author", "approved_by", "segment", "exclude_segment")
        .prefetch_related("topics")
        .order_by("-id")
    )


def publication_segments(*, publication: Publication) -> dict[str, Any]:
    """The publication's segment and exclusion as a send's audience keeps them: the trees as they
    are now (what the publisher confirmed), and no broadcast destinations when a segment
    chooses the people."""
    segment, exclude = publication.segment, publication.exclude_segment
    spec: dict[str, Any] = {}
    if segment is not None:
        spec.update(segment=segment.rules, segment_id=segment.pk, broadcast=False)
    if exclude is not None:
        spec.update(exclude_segment=exclude.rules, exclude_segment_id=exclude.pk)
    return spec


def publication_audience_of(*, publication: Publication) -> dict[str, Any]:
    """`publication_audience` for a saved publication: its topics, segment and exclusion."""
    spec = publication_segments(publication=publication)
    return publication_audience(
        topic_ids=list(publication.topics.values_list("pk", flat=True)),
        segment=spec.get("segment"),
        exclude_segment=spec.get("exclude_segment"),
    )


def publication_audience(
    *, topic_ids: Sequence[int], segment: dict | None = None, exclude_segment: dict | None = None
) -> dict[str, Any]:
    """Exactly who a publication of these topics would reach now, per channel: personal channels
    (instant subscribers with an address for that kind, in the segment, not in the exclusion)
    and broadcast destinations (none when a segment chooses the people). Digest readers are
    counted apart: they get it later, in their digest."""
    personal = []
    kinds = personal_kinds()
    channels = personal_channels(kinds=kinds)
    limits = {"segment": segment, "exclude_segment": exclude_segment}
    for kind in kinds:
        channel = channels.get(kind)
        rows = audience_recipients(kind=kind, topic_ids=topic_ids, frequencies=["instant"], **limits)
        count = audience_count(rows) if channel else 0
        personal.append(
            {"kind": kind, "channel_id": channel.pk if channel else None, "channel": channel.name if channel else None}
            | {"recipients": count}
        )
    broadcast = [
        {"kind": c.kind, "channel_id": c.pk, "channel": c.name, "recipients": 1}
        for c in (broadcast_channels(topic_ids=topic_ids) if segment is None else [])
    ]
    frequencies = [Subscription.Frequency.DAILY, Subscription.Frequency.WEEKLY]
    readers = [
        audience_recipients(kind=kind, topic_ids=topic_ids, frequencies=frequencies, **limits)
        for kind in (digest_kinds() if topic_ids else [])
    ]
    digest = _anyone_of(readers).count() if readers else 0
    total = sum(row["recipients"] for row in personal + broadcast)
    return {"channels": personal + broadcast, "total": total, "digest_subscribers": digest}


def _anyone_of(audiences: Sequence[QuerySet[Subscriber]]) -> QuerySet[Subscriber]:
    """Subscribers in any of these audiences (one kind of channel each), once each."""
    return Subscriber.objects.filter(reduce(or_, [Q(pk__in=audience.values("pk")) for audience in audiences]))


def publication_merge_warnings(*, publication: Publication) -> list[dict[str, Any]]:
    """Merge fields with neither a `default` filter nor a custom field default that some of the
    audience has no value for, with how many: one aggregate query over everyone the publication
    reaches personally (email, Slack, webhook...: merge fields fill every channel's message)."""
    from publishing.merge import MergeField, merge_defaults
    from publishing.services.rendering import publication_content

    fields = [MergeField.from_json(f) for f in publication_content(publication=publication).get("merge_fields", [])]
    defaults = merge_defaults()
    checks = {f.label: _missing(f) for f in fields if not f.has_default and f.attribute not in defaults}
    checks = {label: q for label, q in checks.items() if q is not None}
    if not checks:
        return []
    spec = publication_segments(publication=publication)
    topic_ids = list(publication.topics.values_list("pk", flat=True))
    limits = {"segment": spec.get("segment"), "exclude_segment": spec.get("exclude_segment")}
    # Everyone it reaches personally: instant, on each kind with a default channel (as the
    # fan-out and the publish confirmation count them), once each.
    readers = [
        audience_recipients(kind=kind, topic_ids=topic_ids, frequencies=["instant"], **limits)
        for kind in personal_channels(kinds=personal_kinds())
    ]
    if not readers:
        return []
    audience = _anyone_of(readers)
    names = {label: f"m{i}" for i, label in enumerate(checks)}
    counts = audience.order_by().aggregate(
        total=Count("pk"), **{names[label]: Count("pk", filter=q) for label, q in checks.items()}
    )
    return [
        {"field": label, "missing": counts[names[label]], "audience": counts["total"]}
        for label in checks
        if counts[names[label]]
    ]


def _missing(field) -> Q | None:
    key = field.attribute
    if key is not None:
        return ~Q(attributes__has_key=key) | attribute_equals_q(key, "") | attribute_equals_q(key, None)
    if field.variable in ("first_name", "name"):
        return Q(name="")
    if field.variable == "last_name":
        return ~Q(name__regex=r"\S\s+\S")
    return None  # email, locale and time zone are always set


def publication_stats(*, publication: Publication) -> dict[str, Any]:
    """Sends, delivery counts per channel and state, and engagement of a publication: three
    aggregate queries whatever its size (alerts, newsletters and A/B sends; digests are counted
    on their own sends)."""
    sends = list(
        Send.objects.filter(publication=publication)
        .order_by("created_at", "pk")
        .values("id", "key", "kind", "status", "subject", "audience_size", "created_at", "finished_at")
    )
    rows = [row[1:] for row in delivery_counts(send_ids=[s["id"] for s in sends])]
    labels = {
        pk: (name, kind)
        for pk, name, kind in Channel.objects.filter(pk__in={r[0] for r in rows}).values_list("pk", "name", "kind")
    }
    channels: dict[int, dict[str, Any]] = {}
    by_state = dict.fromkeys(Delivery.State.values, 0)
    for channel_id, state, n in rows:
        name, kind = labels.get(channel_id, ("", ""))
        entry = channels.setdefault(channel_id, {"channel_id": channel_id, "channel": name, "kind": kind, "total": 0})
        entry.setdefault("states", dict.fromkeys(Delivery.State.values, 0))[state] = n
        entry["total"] += n
        by_state[state] += n
    return {
        "sends": sends,
        "deliveries": {"total": sum(by_state.values()), "by_state": by_state, "by_channel": list(channels.values())},
        "engagement": _engagement(publication.pk, handed=sum(by_state[s] for s in HANDED_OVER)),
    }


def _engagement(publication_id: int, *, handed: int) -> dict[str, Any]:
    """From analytics' daily rollups (kept current by a beat task, a minute behind at most):
    one indexed query, however many raw events the publication has. The same selector and
    the same rates as the dashboard and the analytics API (`with_rates`), so every figure
    agrees: `delivered` counts receipts, or the hand-over where a kind has no receipts (Slack,
    webhooks), while `deliveries.by_state` counts rows by state."""
    from analytics.selectors import publication_engagement, with_rates

    totals = publication_engagement(publication_ids=[publication_id]).get(publication_id) or with_rates({})
    return {
        "sent": totals["sent"],
        "delivered": totals["delivered"],
        "failed": totals["failed"],
        "opens": totals["opens"],
        "unique_opens": totals["unique_opens"],
        "clicks": totals["clicks"],
        "unique_clicks": totals["unique_clickers"],
        "machine_opens": totals["machine_opens"],
        "bounces": totals["bounces"],
        "complaints": totals["complaints"],
        "unsubscribes": totals["unsubscribes"],
        "handed_to_provider": handed,
        "open_rate": totals["open_rate"],
        "click_rate": totals["click_rate"],
        "bounce_rate": totals["bounce_rate"],
        "complaint_rate": totals["complaint_rate"],
    }


# --- Public archive -----------------------------------------------------------------------------


def archive_publications() -> QuerySet[Publication]:
    """Published publications with at least one public topic, newest first (lists and feeds)."""
    public = Publication.topics.through.objects.filter(publication=OuterRef("pk"), topic__is_public=True)
    return (
        Publication.objects.filter(Exists(public), state=Publication.State.PUBLISHED)
        .select_related("author")
        .prefetch_related(Prefetch("topics", queryset=Topic.objects.filter(is_public=True).order_by("name")))
        .order_by("-published_at", "-pk")
    )


def archive_publication_get(*, slug: str) -> Publication | None:
    """Its page stays up once archived, so links in messages already sent keep working."""
    public = Publication.topics.through.objects.filter(publication=OuterRef("pk"), topic__is_public=True)
    return (
        Publication.objects.filter(
            Exists(public), slug=slug, state__in=[Publication.State.PUBLISHED, Publication.State.ARCHIVED]
        )
        .prefetch_related(Prefetch("topics", queryset=Topic.objects.filter(is_public=True).order_by("name")))
        .first()
    )


def archive_last_modified(*, topic_slug: str | None = None, slug: str | None = None) -> datetime | None:
    """When anything shown on an archive page last changed (archiving counts: it leaves lists)."""
    rows = Publication.objects.filter(
        state__in=[Publication.State.PUBLISHED, Publication.State.ARCHIVED], topics__is_public=True
    )
    if topic_slug is not None:
        rows = rows.filter(topics__slug=topic_slug)
    if slug is not None:
        rows = rows.filter(slug=slug)
    return rows.aggregate(last=Max("updated_at"))["last"]


def publication_checks_overrides(*, publication: Publication):
    """Who published this publication although pre-send checks failed, when and why (newest first)."""
    return PublicationChecksOverride.objects.filter(publication=publication).select_related("actor")
