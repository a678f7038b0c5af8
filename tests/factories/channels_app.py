import factory

from channels_app.models import Channel, Delivery, Send
from tests.factories.subscribers import SubscriberFactory


class ChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Channel

    name = factory.Sequence(lambda n: f"Channel {n}")
    kind = "email"
    audience = Channel.Audience.SUBSCRIBERS
    config = factory.LazyAttribute(lambda o: {"esp": "outbox", "from_email": "news@example.com"})
    credentials = factory.LazyFunction(dict)


class SendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Send

    key = factory.Sequence(lambda n: f"test-send-{n}")
    kind = Send.Kind.NEWSLETTER
    subject = factory.Faker("sentence", nb_words=5)


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Delivery

    send = factory.SubFactory(SendFactory)
    channel = factory.SubFactory(ChannelFactory)
    subscriber = factory.SubFactory(SubscriberFactory)
    recipient_key = factory.LazyAttribute(lambda o: o.subscriber.pk if o.subscriber else 0)
    recipient = factory.LazyAttribute(lambda o: o.subscriber.email if o.subscriber else "")
