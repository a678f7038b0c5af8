import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from channels_app.models import Channel, Delivery
from channels_app.services.channels import channel_create
from core.exceptions import ApplicationError
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_it_refuses_a_second_delivery_for_the_same_send_channel_and_recipient():
    delivery = DeliveryFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Delivery.objects.create(
            send=delivery.send,
            channel=delivery.channel,
            subscriber=delivery.subscriber,
            recipient_key=delivery.recipient_key,
            recipient=delivery.recipient,
        )
    assert Delivery.objects.count() == 1


def test_the_same_recipient_in_another_send_is_a_separate_delivery():
    delivery = DeliveryFactory()
    other = DeliveryFactory(channel=delivery.channel, subscriber=delivery.subscriber, send=SendFactory())
    assert other.pk != delivery.pk


def test_one_broadcast_delivery_per_send_and_channel():
    channel = ChannelFactory(kind="discord", audience=Channel.Audience.BROADCAST, credentials={"url": "x"})
    send = SendFactory()
    DeliveryFactory(send=send, channel=channel, subscriber=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        DeliveryFactory(send=send, channel=channel, subscriber=None)


def test_it_refuses_an_unknown_delivery_state():
    with pytest.raises(IntegrityError), transaction.atomic():
        DeliveryFactory(state="lost")


def test_delivery_state_machine_allows_only_listed_transitions():
    delivery = DeliveryFactory.build(state=Delivery.State.QUEUED)
    assert delivery.can_transition_to(Delivery.State.SENDING)
    assert not delivery.can_transition_to(Delivery.State.DELIVERED)
    delivery.state = Delivery.State.SENT
    assert delivery.can_transition_to(Delivery.State.BOUNCED)
    assert not delivery.can_transition_to(Delivery.State.QUEUED)


@pytest.mark.parametrize("kind,audience", [("email", "broadcast"), ("discord", "subscribers")])
def test_a_kind_reaches_only_the_audiences_its_adapter_declares(kind, audience):
    """Which kinds exist and whom each reaches is the registry's, checked by the services and by
    model validation (no database constraint names kinds, so a new kind needs no migration)."""
    with pytest.raises(ApplicationError) as error:
        channel_create(name="x", kind=kind, audience=audience, config={}, credentials={})
    assert "audience" in error.value.extra["fields"]
    with pytest.raises(ValidationError) as invalid:
        ChannelFactory.build(kind=kind, audience=audience).clean()
    assert "audience" in invalid.value.message_dict
    assert not Channel.objects.exists()


def test_only_one_default_channel_per_kind():
    ChannelFactory(is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        ChannelFactory(is_default=True)


def test_credentials_are_encrypted_at_rest_and_read_back():
    channel = ChannelFactory(kind="slack", credentials={"token": "xoxb-very-secret"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_app_channel WHERE id = %s", [channel.pk])
        stored = cursor.fetchone()[0]
    assert "xoxb-very-secret" not in stored
    assert Channel.objects.get(pk=channel.pk).credentials == {"token": "xoxb-very-secret"}


def test_erasing_a_subscriber_keeps_the_delivery_row_and_its_unique_key():
    delivery = DeliveryFactory(subscriber=SubscriberFactory())
    delivery.subscriber.delete()
    delivery.refresh_from_db()
    assert delivery.subscriber_id is None
    assert delivery.recipient_key != 0
