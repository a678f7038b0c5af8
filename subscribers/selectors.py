"""Reads of subscribers and topics that feed the API and admin."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from subscribers.models import Subscriber, Subscription, Suppression, Topic


class SubscriberFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Subscriber.Status.choices)
    topic = django_filters.CharFilter(method="filter_topic", help_text="Topic slug with a subscription not set to off.")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    search = django_filters.CharFilter(method="filter_search", help_text="Email or name contains.")

    class Meta:
        model = Subscriber
        fields = ["status", "topic", "created_after", "created_before", "search"]

    def filter_topic(self, queryset, name, value):
        subscribed = Subscription.objects.filter(topic__slug=value).exclude(frequency=Subscription.Frequency.OFF)
        return queryset.filter(pk__in=subscribed.values("subscriber_id"))

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if "@" in value:
            return queryset.filter(email__lower__contains=value.lower())
        return queryset.filter(email__icontains=value) | queryset.filter(name__icontains=value)


def subscriber_list() -> QuerySet[Subscriber]:
    """Subscribers with their subscriptions, newest first; filter with SubscriberFilter."""
    return Subscriber.objects.prefetch_related(
        Prefetch("subscriptions", queryset=Subscription.objects.select_related("topic").order_by("topic__slug"))
    ).order_by("-id")


def topic_list() -> QuerySet[Topic]:
    return Topic.objects.order_by("name")


def mailable_subscribers() -> QuerySet[Subscriber]:
    """Subscribers a message may go to: active, not paused, and not on the suppression list
    (checked in SQL, so a suppressed address never enters an audience, even after re-import)."""
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    not_paused = Q(paused_until__isnull=True) | Q(paused_until__lte=timezone.now())
    return Subscriber.objects.filter(not_paused, status=Subscriber.Status.ACTIVE).exclude(Exists(suppressed))
