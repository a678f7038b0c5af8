from rest_framework import serializers

from subscribers.models import Subscriber, Subscription, Topic


class TopicSerializer(serializers.ModelSerializer):
    class Meta:
        model = Topic
        fields = ["id", "slug", "name", "description", "is_public", "created_at"]
        read_only_fields = ["id", "created_at"]


class SubscriptionSerializer(serializers.ModelSerializer):
    topic = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Subscription
        fields = ["topic", "channel_kind", "frequency"]


class SubscriberSerializer(serializers.ModelSerializer):
    subscriptions = SubscriptionSerializer(many=True, read_only=True)

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
            "paused_until",
            "source",
            "created_at",
            "confirmed_at",
            "unsubscribed_at",
            "subscriptions",
        ]
        read_only_fields = fields
