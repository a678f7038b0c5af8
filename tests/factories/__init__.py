from tests.factories.analytics import DailyRollupFactory, EngagementEventFactory
from tests.factories.channels_app import ChannelFactory, DeliveryFactory, SendFactory
from tests.factories.core import UserFactory
from tests.factories.publishing import PublicationFactory
from tests.factories.subscribers import (
    ConsentRecordFactory,
    ImportJobFactory,
    PendingSubscriberFactory,
    SubscriberFactory,
    SubscriptionFactory,
    SuppressionFactory,
    TopicFactory,
)

__all__ = [
    "ChannelFactory",
    "ConsentRecordFactory",
    "DailyRollupFactory",
    "DeliveryFactory",
    "EngagementEventFactory",
    "ImportJobFactory",
    "PendingSubscriberFactory",
    "PublicationFactory",
    "SendFactory",
    "SubscriberFactory",
    "SubscriptionFactory",
    "SuppressionFactory",
    "TopicFactory",
    "UserFactory",
]
