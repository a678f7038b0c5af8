import factory
from django.utils import timezone

from analytics.models import EngagementEvent
from tests.factories.channels_app import DeliveryFactory


class EngagementEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EngagementEvent

    delivery = factory.SubFactory(DeliveryFactory)
    kind = EngagementEvent.Kind.OPEN
    occurred_at = factory.LazyFunction(timezone.now)
