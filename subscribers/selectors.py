"""Reads of subscribers and topics that feed the API, admin, public pages and the send pipeline."""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import django_filters
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from core.api.filters import StrictFilterSet, UTCIsoDateTimeFilter
from subscribers.models import (
    EMAIL_KIND,
    ImportJob,
    Segment,
    Subscriber,
    SubscriberField,
    Subscription,
    Suppression,
    Topic,
)
from subscribers.tokens import InvalidToken, TokenData, TokenPurpose, subscriber_token_read


class SubscriberFilter(StrictFilterSet):
    # distinct=False: a status filter cannot repeat rows, and SELECT DISTINCT over every column
    # made the paginated list ten times slower on 100,000 subscribers.
    status = django_filters.MultipleChoiceFilter(choices=Subscriber.Status.choices, distinct=False)
    topic = django_filters.CharFilter(method="filter_topic", help_text="Topic slug with a subscription not set to off.")
    created_after = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", help_text="Email or name contains.")

    class Meta:
        model = Subscriber
        fields = ["status", "topic", "created_after", "created_before", "search"]

    def filter_topic(self, queryset, name, value):
        subscribed = Subscription.objects.filter(subscriber=OuterRef("pk"), topic__slug=value).exclude(
            frequency=Subscription.Frequency.OFF
        )
        return queryset.filter(Exists(subscribed))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if "@" in value:
            return queryset.filter(email__lower__contains=value.lower())
        return queryset.filter(email__icontains=value) | queryset.filter(name__icontains=value)


def subscriber_list() -> QuerySet[Subscriber]:
    """Subscribers with their subscriptions, newest first; filter with SubscriberFilter."""
    return Subscriber.objects.prefetch_related(
        Prefetch(
            "subscriptions",
            queryset=Subscription.objects.select_related("topic")
            .only("subscriber_id", "channel_kind", "frequency", "topic__slug")
            .order_by("topic__slug"),
            # A plain list: a prefetched related manager builds a filtered QuerySet per
            # subscriber on every .all(), which was a third of a list request.
            to_attr="subscription_rows",
        )
    ).order_by("-id")


def topic_list() -> QuerySet[Topic]:
    return Topic.objects.order_by("name")


def mailable_subscribers(*, now: datetime | None = None) -> QuerySet[Subscriber]:
    """Subscribers a message may go to: active, not paused, address not suppressed.

    One SQL query (NOT EXISTS on the suppression list, by the lower-case address both tables
    store); the send pipeline builds every audience from it, so a suppressed address can never
    be selected, whatever status an import or an admin edit left on the subscriber.
    """
    now = now or timezone.now()
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    return Subscriber.objects.filter(
        Q(paused_until__isnull=True) | Q(paused_until__lte=now),
        ~Exists(suppressed),
        status=Subscriber.Status.ACTIVE,
    )


def segment_subscribers(*, rules: dict, now: datetime | None = None) -> QuerySet[Subscriber]:
    """Mailable subscribers matching a validated segment tree: one query, however deep the tree
    (and one small read of the sends a publication- or topic-scoped condition means).
    Suppressed, unsubscribed, pending and paused subscribers are never in it."""
    from subscribers.segments.compile import segment_q

    now = now or timezone.now()
    return mailable_subscribers(now=now).filter(segment_q(rules, now=now))


def audience_count(queryset: QuerySet) -> int:
    """COUNT of an audience query (a segment, a publication's audience per channel)."""
    with audience_session():
        return queryset.count()


def audience_ids(queryset: QuerySet) -> array:
    """The ids of an audience query, in its order, as a compact array (8 bytes an id: a million
    subscribers is 8 MB), read through a server-side cursor: the fan-out evaluates a segment
    once per send with this, instead of once per page."""
    with audience_session():
        return array("q", queryset.values_list("pk", flat=True).iterator(chunk_size=20_000))


@contextmanager
def audience_session():
    """On PostgreSQL, a transaction whose audience queries run with JIT off (compiling a plan
    took longer than running it), SEGMENT_QUERY_WORK_MEM (the hash joins over a million
    subscribers stay in memory), SEGMENT_QUERY_PARALLEL_TUPLE_COST (those joins use both cores)
    and cursor_tuple_fraction 1 (a member list read through a cursor is read whole: plan for
    all of it). Inside an outer transaction the settings are put back afterwards, so what the
    caller does next (a publish, a send) plans as usual. Elsewhere, nothing to set."""
    from django.conf import settings

    if connection.vendor != "postgresql":
        yield
        return
    wanted = {
        "jit": "off",
        "work_mem": settings.SEGMENT_QUERY_WORK_MEM,
        "parallel_tuple_cost": str(settings.SEGMENT_QUERY_PARALLEL_TUPLE_COST),
        "cursor_tuple_fraction": "1",
    }
    nested = connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if nested:
            cursor.execute("SELECT " + ", ".join(["current_setting(%s)"] * len(wanted)), list(wanted))
            previous = dict(zip(wanted, cursor.fetchone(), strict=True))
        _set_local(cursor, wanted)
        yield
        if nested:  # on an error the savepoint's rollback takes the settings back by itself
            _set_local(cursor, previous)


def _set_local(cursor, values: dict[str, str]) -> None:
    """set_config(name, value, is_local): for this transaction only."""
    calls = ", ".join(["set_config(%s, %s, true)"] * len(values))
    cursor.execute(f"SELECT {calls}", [part for item in values.items() for part in item])


def segments_with_condition(matches: Callable[[Mapping[str, Any]], bool], *, lock: bool = False) -> list[Segment]:
    """Saved segments with at least one condition that `matches` (a field they compare, a topic
    they name): what a change to that field or topic would leave invalid. `lock` holds them
    (select_for_update) for a caller that rewrites them in its transaction."""
    from subscribers.segments.rules import segment_conditions

    rows = Segment.objects.only("pk", "name", "rules")
    if lock:
        rows = rows.select_for_update()
    return [segment for segment in rows if any(matches(node) for node in segment_conditions(segment.rules))]


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by").order_by("name")


def subscriber_field_list() -> QuerySet[SubscriberField]:
    return SubscriberField.objects.order_by("key")


def audience_subscriptions(
    *,
    topic_ids: Iterable[int],
    channel_kind: str = EMAIL_KIND,
    frequencies: Iterable[str] = (Subscription.Frequency.INSTANT,),
    now: datetime | None = None,
) -> QuerySet[Subscription]:
    """Subscriptions of mailable subscribers to any of `topic_ids` on one channel kind, at the
    given frequencies. A subscriber appears once per matching topic: use
    `.values("subscriber_id").distinct()` for one row per person."""
    return Subscription.objects.filter(
        topic_id__in=list(topic_ids),
        channel_kind=channel_kind,
        frequency__in=list(frequencies),
        subscriber__in=mailable_subscribers(now=now).values("pk"),
    )


def subscriber_get_for_token(*, purpose: TokenPurpose, token: str) -> tuple[Subscriber, TokenData]:
    """The subscriber a link is for. Raises InvalidToken: expired, tampered, unknown (no such
    subscriber, e.g. erased) or revoked (a preference link older than the subscriber's last revoke)."""
    data = subscriber_token_read(purpose=purpose, token=token)
    subscriber = Subscriber.objects.filter(pk=data.subscriber_id).first()
    if subscriber is None:
        raise InvalidToken("unknown", subscriber_id=data.subscriber_id)
    if purpose == TokenPurpose.PREFERENCES and data.version != subscriber.token_version:
        raise InvalidToken("revoked", subscriber_id=subscriber.pk)
    return subscriber, data


def preference_topics(*, subscriber: Subscriber) -> QuerySet[Topic]:
    """Public topics, and any private one the subscriber already has a subscription to."""
    return Topic.objects.filter(Q(is_public=True) | Q(subscriptions__subscriber=subscriber)).distinct().order_by("name")


def public_topics() -> QuerySet[Topic]:
    return Topic.objects.filter(is_public=True).order_by("name")


def suppression_list() -> QuerySet[Suppression]:
    return Suppression.objects.select_related("created_by").order_by("-created_at")


def import_job_list() -> QuerySet[ImportJob]:
    """Without the uploaded bytes and the report, which can be megabytes each."""
    return ImportJob.objects.defer("source", "error_report").select_related("created_by").order_by("-created_at")
