from rest_framework import serializers

from channels_app.api.serializers import TestRecipientsInputSerializer
from channels_app.models import Channel
from core.api.serializers import StrictSerializer, URLOrBlankField, WallClockTimeField
from publishing.models import ABTest, Publication
from publishing.services.rendering import archive_url
from subscribers.models import Segment, Subscriber, Topic


class PublicationSerializer(serializers.ModelSerializer):
    topics = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    author = serializers.CharField(source="author.username", read_only=True, default=None, allow_null=True)
    approved_by = serializers.CharField(source="approved_by.username", read_only=True, default=None, allow_null=True)
    canonical_url = URLOrBlankField(read_only=True)
    archive_url = serializers.SerializerMethodField()

    class Meta:
        model = Publication
        fields = [
            "id",
            "title",
            "slug",
            "email_subject",
            "summary",
            "body",
            "canonical_url",
            "topics",
            "priority",
            "quality_score",
            "segment",
            "exclude_segment",
            "state",
            "publish_at",
            "published_at",
            "quiet_hours_start",
            "quiet_hours_end",
            "quiet_hours_bypass_alerts",
            "send_time_optimized",
            "send_time_holdout_percent",
            "author",
            "approved_by",
            "archive_url",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_archive_url(self, publication: Publication) -> str:
        return archive_url(slug=publication.slug)


class PublicationDetailSerializer(PublicationSerializer):
    """With its sends, delivery counts per channel and state, engagement and A/B test."""

    sends = serializers.SerializerMethodField()
    deliveries = serializers.SerializerMethodField()
    engagement = serializers.SerializerMethodField()
    ab_test = serializers.SerializerMethodField()
    send_time = serializers.SerializerMethodField(
        help_text="Send-time optimization: opens and clicks of the optimized group and the holdout, and the lift."
    )

    class Meta(PublicationSerializer.Meta):
        fields = [*PublicationSerializer.Meta.fields, "sends", "deliveries", "engagement", "ab_test", "send_time"]
        read_only_fields = fields

    def _stats(self, publication: Publication) -> dict:
        if not hasattr(self, "_cached_stats"):
            from publishing.selectors import publication_stats

            self._cached_stats = publication_stats(publication=publication)
        return self._cached_stats

    def get_sends(self, publication) -> list[dict]:
        return self._stats(publication)["sends"]

    def get_deliveries(self, publication) -> dict:
        return self._stats(publication)["deliveries"]

    def get_engagement(self, publication) -> dict:
        return self._stats(publication)["engagement"]

    def get_ab_test(self, publication) -> dict | None:
        test = ABTest.objects.filter(publication=publication).first()
        return ABTestSerializer(test).data if test else None

    def get_send_time(self, publication) -> dict | None:
        from publishing.services.send_time import send_time_lift

        return send_time_lift(publication=publication) if publication.send_time_optimized else None


class PublicationWriteSerializer(StrictSerializer):
    """Shapes only; the rules (valid Markdown/HTML, ranges, roles) are the service's."""

    title = serializers.CharField(max_length=200, allow_blank=True)
    slug = serializers.SlugField(max_length=220, required=False, allow_blank=True)
    email_subject = serializers.CharField(max_length=300, required=False, allow_blank=True)
    summary = serializers.CharField(required=False, allow_blank=True)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    canonical_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    topics = serializers.SlugRelatedField(slug_field="slug", queryset=Topic.objects.all(), many=True, required=False)
    priority = serializers.ChoiceField(choices=Publication.Priority.choices, required=False)
    quality_score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True, help_text="Only subscribers in this segment."
    )
    exclude_segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), required=False, allow_null=True, help_text="Never subscribers in this segment."
    )
    quiet_hours_start = WallClockTimeField(
        required=False, allow_null=True, help_text="Not delivered from this local time (e.g. 21:00)…"
    )
    quiet_hours_end = WallClockTimeField(
        required=False, allow_null=True, help_text="…until this one (e.g. 08:00), in each subscriber's zone."
    )
    quiet_hours_bypass_alerts = serializers.BooleanField(required=False)
    send_time_optimized = serializers.BooleanField(
        required=False, help_text="Newsletter: each subscriber at their best hour within 24 h."
    )
    send_time_holdout_percent = serializers.IntegerField(
        required=False, min_value=0, max_value=50, help_text="Share that gets it at once, to measure the lift."
    )


class PublishInputSerializer(StrictSerializer):
    publish_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Future time to schedule it for; leave out to publish now."
    )
    confirm_audience = serializers.IntegerField(
        required=False, min_value=0, help_text="The total from GET .../audience; refused (409) if it changed since."
    )
    checks_override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Publish although pre-send checks fail (GET .../checks): why. Recorded with who and when.",
    )


class ReturnInputSerializer(StrictSerializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class TestSendInputSerializer(TestRecipientsInputSerializer, StrictSerializer):
    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all())
    subscriber = serializers.PrimaryKeyRelatedField(
        queryset=Subscriber.objects.all(), required=False, help_text="Render it as this subscriber would get it."
    )


class ABTestSerializer(serializers.ModelSerializer):
    subjects = serializers.SerializerMethodField()
    winner = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    class Meta:
        model = ABTest
        fields = [
            "subjects",
            "metric",
            "test_fraction",
            "wait_minutes",
            "status",
            "started_at",
            "decide_at",
            "decided_at",
            "winner",
            "results",
        ]
        read_only_fields = fields

    def get_subjects(self, test: ABTest) -> list[str]:
        return [v.subject for v in test.variants.order_by("index")]

    def get_winner(self, test: ABTest) -> str | None:
        return test.winner.label if test.winner_id else None

    def get_results(self, test: ABTest) -> list[dict]:
        from publishing.services.abtests import abtest_results

        return abtest_results(test=test)


class ABTestInputSerializer(StrictSerializer):
    subjects = serializers.ListField(child=serializers.CharField(max_length=300), max_length=10)
    metric = serializers.ChoiceField(choices=ABTest.Metric.choices, default=ABTest.Metric.OPENS)
    test_fraction = serializers.FloatField(default=0.2)
    wait_minutes = serializers.IntegerField(default=60)


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    status = serializers.ChoiceField(choices=["pass", "warn", "fail", "unavailable"])
    message = serializers.CharField()
    details = serializers.DictField(help_text="Per check: rule hits, link answers, sizes...")


class ChecksOverrideSerializer(serializers.Serializer):
    actor = serializers.CharField(source="actor.username", default=None)
    reason = serializers.CharField()
    failed_checks = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


class ChecksReportSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["pass", "warn", "fail"], help_text="The worst of the checks.")
    blocking = serializers.ListField(
        child=serializers.CharField(), help_text="Failing checks: publishing needs an override."
    )
    elapsed_ms = serializers.IntegerField()
    checks = CheckSerializer(many=True)
    overrides = ChecksOverrideSerializer(many=True, help_text="Earlier overrides of this publication's checks.")
