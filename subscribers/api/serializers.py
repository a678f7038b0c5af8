from django.utils import timezone
from rest_framework import serializers

from channels_app.adapters import personal_kind_choices, personal_kinds
from core.api.serializers import StrictInputMixin, StrictSerializer, URLOrBlankField
from subscribers.engagement import EngagementTier
from subscribers.models import EMAIL_KIND, FieldType, Segment, Subscriber, SubscriberField, Subscription, Topic
from subscribers.services.preferences import subscription_choice_problem


class TopicSerializer(StrictInputMixin, serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "is_public",
            "tracking_enabled",
            "digest_segment",
            "quiet_hours_start",
            "quiet_hours_end",
            "quiet_hours_bypass_alerts",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"digest_segment": {"help_text": "Digests carry this topic only to this segment's members."}}

    def validate(self, attrs):
        from publishing.services.quiet_hours import QUIET_FIELDS, quiet_hours_errors

        current = {name: getattr(self.instance, name) for name in QUIET_FIELDS} if self.instance else {}
        errors = quiet_hours_errors({**current, **attrs})
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class SubscriptionSerializer(serializers.ModelSerializer):
    topic = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Subscription
        fields = ["topic", "channel_kind", "frequency"]


class SubscriberSerializer(serializers.ModelSerializer):
    subscriptions = SubscriptionSerializer(many=True, read_only=True)
    engagement_tier = serializers.ChoiceField(
        choices=EngagementTier.choices, read_only=True, help_text="From the engagement score; see the README."
    )
    webhook_url = URLOrBlankField(read_only=True, help_text="Personal webhook (a Discord webhook or any endpoint).")

    class Meta:
        model = Subscriber
        fields = [
            "id",
            "email",
            "name",
            "status",
            "timezone",
            "locale",
            "attributes",
            "digest_hour",
            "digest_weekday",
            "slack_member_id",
            "webhook_url",
            "engagement_score",
            "engagement_tier",
            "paused_until",
            "source",
            "created_at",
            "confirmed_at",
            "unsubscribed_at",
            "subscriptions",
        ]
        read_only_fields = fields

    def to_representation(self, subscriber: Subscriber) -> dict:
        """Written out by hand: the same output as the declared fields (the schema still comes
        from them), at a fraction of DRF's per-field cost, which was most of a list request."""
        data = {}
        for name in self.Meta.fields:
            if name == "subscriptions":
                rows = getattr(subscriber, "subscription_rows", None)  # prefetched by subscriber_list()
                data[name] = [
                    {"topic": s.topic.slug, "channel_kind": s.channel_kind, "frequency": s.frequency}
                    for s in (subscriber.subscriptions.all() if rows is None else rows)
                ]
            elif name in _DATETIME_FIELDS:
                data[name] = _iso(getattr(subscriber, name))
            else:
                data[name] = getattr(subscriber, name)
        return data


_DATETIME_FIELDS = frozenset({"paused_until", "created_at", "confirmed_at", "unsubscribed_at"})


def _iso(value) -> str | None:
    """DRF's DateTimeField output: ISO 8601 in the current time zone, UTC written as Z."""
    if value is None:
        return None
    text = timezone.localtime(value).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SubscriberCreateSerializer(StrictSerializer):
    """Create-or-update by email. Business rules (address format, time zone, roles) live in the service."""

    email = serializers.CharField(max_length=320)
    name = serializers.CharField(required=False, allow_blank=True)
    timezone = serializers.CharField(required=False)
    locale = serializers.CharField(required=False)
    attributes = serializers.DictField(required=False)
    topics = serializers.SlugRelatedField(
        slug_field="slug", queryset=Topic.objects.all(), many=True, required=False, help_text="Topic slugs (email)."
    )
    confirmed = serializers.BooleanField(
        default=False, help_text="Publisher role only: consent was collected elsewhere; no confirmation email."
    )
    consent_wording = serializers.CharField(
        required=False, allow_blank=True, max_length=5000, help_text="The exact text the person agreed to."
    )
    source = serializers.CharField(required=False, allow_blank=True, max_length=255, help_text="Where they signed up.")


SUBSCRIBE_ACCEPTED = "Accepted. A new address gets a confirmation email; nothing says whether it was known."


class SubscriberAcceptedSerializer(serializers.Serializer):
    """The answer to create-or-update: the same for every address, known or not."""

    email = serializers.EmailField(help_text="The address as stored (trimmed, lower-case).")
    message = serializers.CharField()


class SubscriptionChoiceSerializer(StrictSerializer):
    topic = serializers.SlugRelatedField(slug_field="slug", queryset=Topic.objects.all())
    channel_kind = serializers.ChoiceField(
        choices=personal_kind_choices(),
        default=EMAIL_KIND,
        help_text="A kind that reaches a person (broadcast-only kinds such as discord cannot).",
        error_messages={
            "invalid_choice": f"'{{input}}' cannot receive personal messages or digests; choose one of "
            f"{', '.join(personal_kinds())}."
        },
    )
    frequency = serializers.ChoiceField(
        choices=Subscription.Frequency.choices,
        help_text="daily and weekly only on kinds that carry digests (the channel registry says which).",
    )

    def validate(self, attrs: dict) -> dict:
        """A kind that cannot reach a person, or a digest on a kind that cannot carry one, is
        refused here with the field named (the service checks the same for admin and shell)."""
        problem = subscription_choice_problem(kind=attrs["channel_kind"], frequency=attrs["frequency"])
        if problem is not None:
            raise serializers.ValidationError({problem[0]: [problem[1]]})
        return attrs


class SubscriberPreferencesSerializer(StrictSerializer):
    """PATCH subscribers/{id}: any subset; all or nothing."""

    name = serializers.CharField(required=False, allow_blank=True)
    timezone = serializers.CharField(required=False)
    locale = serializers.CharField(required=False)
    digest_hour = serializers.IntegerField(required=False)
    digest_weekday = serializers.IntegerField(required=False)
    slack_member_id = serializers.CharField(required=False, allow_blank=True)
    webhook_url = serializers.CharField(required=False, allow_blank=True)
    paused_until = serializers.DateTimeField(required=False, allow_null=True)
    attributes = serializers.DictField(required=False)
    subscriptions = SubscriptionChoiceSerializer(many=True, required=False)


class SegmentSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rules", "created_by", "created_at", "updated_at"]
        read_only_fields = fields


class SegmentWriteSerializer(StrictSerializer):
    """Shapes only; the tree's rules (names, types, operators, limits) are the service's."""

    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    rules = serializers.JSONField(help_text="The filter tree (see the README: Segments).")


class SegmentPreviewInputSerializer(StrictSerializer):
    rules = serializers.JSONField(help_text="An unsaved tree to count and sample.")
    page = serializers.IntegerField(required=False, min_value=1, max_value=10_000, default=1)


class SegmentMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    attributes = serializers.DictField()
    engagement_score = serializers.FloatField()


class SegmentPreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Mailable subscribers in the segment now.")
    page = serializers.IntegerField()
    page_size = serializers.IntegerField()
    results = SegmentMemberSerializer(many=True)


class SubscriberFieldSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriberField
        fields = ["id", "key", "label", "type", "choices", "default", "subscriber_editable", "help_text", "created_at"]
        read_only_fields = fields


class SubscriberFieldWriteSerializer(StrictSerializer):
    key = serializers.CharField(max_length=50)
    label = serializers.CharField(max_length=120)
    type = serializers.ChoiceField(choices=FieldType.choices, required=False)
    choices = serializers.ListField(child=serializers.CharField(max_length=200), required=False, max_length=200)
    default = serializers.JSONField(required=False, allow_null=True)
    subscriber_editable = serializers.BooleanField(required=False)
    help_text = serializers.CharField(required=False, allow_blank=True, max_length=300)
