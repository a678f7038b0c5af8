from rest_framework import serializers

from channels_app.models import Channel, Delivery, Send
from core.api.serializers import QueryParamsSerializer, StrictInputMixin, StrictSerializer
from subscribers.models import Topic


class ChannelSerializer(StrictInputMixin, serializers.ModelSerializer):
    """Credentials are write-only: accepted on create/update, never returned. What `config` and
    `credentials` may hold, and which audiences a kind serves, is its adapter's declaration
    (channels_app.adapters); the service refuses anything else with field errors."""

    credentials = serializers.DictField(write_only=True, required=False, help_text="Secrets; never returned.")
    has_credentials = serializers.SerializerMethodField()
    feedback_webhook_url = serializers.SerializerMethodField(
        help_text="Where the provider posts delivery feedback (SES: the SNS endpoint); blank for SMTP and outbox."
    )
    docs_url = serializers.SerializerMethodField(
        help_text="The provider's documentation of this channel's settings (per ESP for email); blank when none."
    )
    topics = serializers.SlugRelatedField(slug_field="slug", many=True, queryset=Topic.objects.all(), required=False)
    fallbacks = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        max_length=10,
        help_text="Fallback channel ids, in order: used while this channel's circuit is open.",
    )
    routes = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        max_length=100,
        help_text='Routing by recipient domain: [{"domain": "gmail.com", "channel": <channel id>}, ...].',
    )
    config = serializers.DictField(required=False)

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "audience",
            "is_default",
            "is_active",
            "disabled_reason",
            "config",
            "credentials",
            "has_credentials",
            "feedback_webhook_url",
            "docs_url",
            "topics",
            "rate_limit_per_second",
            "target_rate_per_second",
            "fallbacks",
            "routes",
            "tracking_enabled",
            "circuit_state",
            "circuit_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "is_active",
            "disabled_reason",
            "circuit_state",
            "circuit_reason",
            "created_at",
            "updated_at",
        ]
        # "One default per kind" is checked by the service, which names the field.
        validators = []

    def get_has_credentials(self, channel: Channel) -> bool:
        return bool(channel.credentials)

    def get_docs_url(self, channel: Channel) -> str:
        from channels_app.adapters import ADAPTERS

        adapter = ADAPTERS.get(channel.kind)
        return adapter.docs_for(channel.config or {}) if adapter else ""

    def get_feedback_webhook_url(self, channel: Channel) -> str:
        from channels_app.adapters import ADAPTERS

        adapter = ADAPTERS.get(channel.kind)
        return adapter.feedback_webhook(channel.config or {}, channel.pk) if adapter and channel.pk else ""


class ChannelUpdateSerializer(ChannelSerializer):
    class Meta(ChannelSerializer.Meta):
        read_only_fields = [*ChannelSerializer.Meta.read_only_fields, "kind"]


class TestRecipientsInputSerializer(StrictSerializer):
    """Who a test goes to: your own email by default, else addresses on the admins' allow-list."""

    recipients = serializers.ListField(
        child=serializers.CharField(max_length=500, allow_blank=True),
        required=False,
        max_length=100,
        help_text="Email addresses, Slack member IDs or webhook URLs (by channel kind): yours or on the "
        "test recipient allow-list, at most TEST_SEND_MAX_RECIPIENTS. Empty: your own email.",
    )
    recipient = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Deprecated: one recipient; use `recipients`."
    )

    def recipient_list(self) -> list[str]:
        data = self.validated_data
        return [*data.get("recipients", []), *([data["recipient"]] if data.get("recipient") else [])]


class ChannelTestInputSerializer(TestRecipientsInputSerializer):
    pass


class TestSendResultSerializer(serializers.Serializer):
    recipient = serializers.CharField(help_text="Blank for a broadcast channel's own destination.")
    ok = serializers.BooleanField()
    provider_message_id = serializers.CharField()
    error = serializers.CharField()


class ChannelTestOutputSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="Every message was accepted.")
    provider_message_id = serializers.CharField(help_text="The first message's (see `results` for each).")
    recipient = serializers.CharField(help_text="The first message's (see `results` for each).")
    results = TestSendResultSerializer(many=True)


class _SendListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        from channels_app.services.sends import sends_progress

        sends = list(data)
        # The page's progress in one query, for SendSerializer.get_progress.
        self.context["progress"] = sends_progress(send_ids=[send.pk for send in sends])
        return super().to_representation(sends)


class SendSerializer(serializers.ModelSerializer):
    progress = serializers.SerializerMethodField()

    class Meta:
        model = Send
        fields = [
            "id",
            "key",
            "kind",
            "status",
            "high_priority",
            "publication",
            "subject",
            "paused_reason",
            "audience_size",
            "audience_ready",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields
        list_serializer_class = _SendListSerializer

    def get_progress(self, send: Send) -> dict[str, int]:
        from channels_app.services.sends import send_progress

        page = self.context.get("progress") or {}
        return page[send.pk] if send.pk in page else send_progress(send=send)


class DeliverySerializer(serializers.ModelSerializer):
    """One delivery: `channel` is the channel it belongs to, `sent_via` the one that carried it
    when not that one (a fallback provider or a domain route), null otherwise."""

    channel = serializers.SlugRelatedField(slug_field="name", read_only=True)
    sent_via = serializers.SlugRelatedField(slug_field="name", read_only=True)
    channel_id = serializers.IntegerField(read_only=True)
    sent_via_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "channel_id",
            "sent_via",
            "sent_via_id",
            "recipient",
            "state",
            "attempts",
            "last_error",
            "provider_message_id",
            "sent_at",
            "updated_at",
        ]
        read_only_fields = fields


class DeliveryFilterSerializer(QueryParamsSerializer):
    state = serializers.ChoiceField(choices=Delivery.State.choices, required=False)
