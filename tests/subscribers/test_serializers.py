import pytest
from rest_framework import serializers

from subscribers.api.serializers import SubscriberSerializer
from subscribers.selectors import subscriber_list
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


class DeclaredFieldsSerializer(SubscriberSerializer):
    def to_representation(self, instance):
        return serializers.ModelSerializer.to_representation(self, instance)


def test_the_hand_written_representation_equals_drfs_for_the_declared_fields():
    subscriber = SubscriberFactory(name="Ada", attributes={"plan": "pro"}, paused_until="2030-01-01T10:00:00+02:00")
    SubscriptionFactory(subscriber=subscriber, frequency="daily")
    SubscriptionFactory(subscriber=subscriber, channel_kind="slack")
    SubscriberFactory(confirmed_at=None)
    for row in subscriber_list():
        assert SubscriberSerializer(row).data == DeclaredFieldsSerializer(row).data
        assert list(SubscriberSerializer(row).data) == list(DeclaredFieldsSerializer(row).data)
