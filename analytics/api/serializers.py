"""Query parameters of the analytics API: validated into field errors, never a 500."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from analytics.selectors import DEFAULT_METRICS, METRICS
from channels_app.adapters import ADAPTERS
from channels_app.models import Channel
from core.api.serializers import QueryParamsSerializer
from subscribers.models import Topic

MAX_RANGE_DAYS = 366


class CommaListField(serializers.CharField):
    """`a,b,c` → ["a", "b", "c"] (blanks dropped)."""

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        return [part.strip() for part in text.split(",") if part.strip()]


class DateRangeSerializer(QueryParamsSerializer):
    start_date = serializers.DateField(required=False, help_text="First day (UTC), default 29 days before end_date.")
    end_date = serializers.DateField(required=False, help_text="Last day (UTC, inclusive), default today.")

    def validate(self, data):
        end = data.get("end_date") or timezone.now().date()
        start = data.get("start_date") or end - timedelta(days=29)
        if start > end:
            raise serializers.ValidationError({"start_date": ["Must be on or before end_date."]})
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise serializers.ValidationError({"end_date": [f"The range may span at most {MAX_RANGE_DAYS} days."]})
        return {**data, "start_date": start, "end_date": end}


class EngagementQuerySerializer(DateRangeSerializer):
    channels = CommaListField(
        required=False,
        allow_blank=True,
        help_text="Channel ids or channel kinds (a channel's `kind`, e.g. email or slack), comma-separated.",
    )
    topics = CommaListField(required=False, allow_blank=True, help_text="Topic ids or slugs, comma-separated.")
    metrics = CommaListField(
        required=False, allow_blank=True, help_text=f"Comma-separated, from: {', '.join(METRICS)}."
    )

    def validate_channels(self, values):
        kinds = [v for v in values if v in ADAPTERS]
        ids = [v for v in values if v not in kinds]
        bad = [v for v in ids if not v.isdigit()]
        if bad:
            raise serializers.ValidationError(f"Unknown channel kind or id: {', '.join(bad)}.")
        ids = [int(v) for v in ids]
        missing = set(ids) - set(Channel.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if missing:
            raise serializers.ValidationError(f"No channel with id {', '.join(map(str, sorted(missing)))}.")
        return {"channel_ids": ids, "channel_kinds": kinds}

    def validate_topics(self, values):
        ids = {int(v) for v in values if v.isdigit()}
        slugs = {v for v in values if not v.isdigit()}
        found = Topic.objects.filter(pk__in=ids) | Topic.objects.filter(slug__in=slugs)
        found = list(found.values_list("pk", "slug"))
        unknown = (ids - {pk for pk, _ in found}) | (slugs - {slug for _, slug in found})
        if unknown:
            raise serializers.ValidationError(f"Unknown topic: {', '.join(map(str, sorted(unknown, key=str)))}.")
        return [pk for pk, _ in found]

    def validate_metrics(self, values):
        unknown = [v for v in values if v not in METRICS]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown metric: {', '.join(unknown)}. Choose from {', '.join(METRICS)}."
            )
        return values or list(DEFAULT_METRICS)
