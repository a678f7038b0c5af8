"""The delivery table has no database foreign keys (they cost half of every fan-out INSERT);
what they guarded is kept by the ORM. These tests are that guard's proof, on real PostgreSQL."""

import pytest
from django.db import connection
from django.db.models import ProtectedError

from channels_app.models import Channel, Delivery, Send
from subscribers.models import Subscriber
from subscribers.services.gdpr import subscriber_erase
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_the_delivery_table_declares_no_foreign_keys_but_keeps_its_lookup_indexes():
    table = Delivery._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    assert not [name for name, spec in constraints.items() if spec["foreign_key"]]
    indexed = {tuple(spec["columns"]) for spec in constraints.values() if spec["index"] or spec["unique"]}
    assert {("channel_id",), ("subscriber_id",), ("sent_via_id",)} <= indexed
    assert ("send_id", "channel_id", "recipient_key") in indexed


def test_deleting_a_send_deletes_its_deliveries():
    send = SendFactory()
    DeliveryFactory.create_batch(3, send=send)
    other = DeliveryFactory()
    send.delete()
    assert list(Delivery.objects.values_list("pk", flat=True)) == [other.pk]


def test_a_channel_that_carried_deliveries_cannot_be_deleted():
    delivery = DeliveryFactory()
    with pytest.raises(ProtectedError):
        delivery.channel.delete()
    assert Channel.objects.filter(pk=delivery.channel_id).exists()


def test_deleting_a_fallback_channel_unlinks_the_deliveries_it_carried():
    via = ChannelFactory()
    delivery = DeliveryFactory(sent_via=via)
    via.delete()
    delivery.refresh_from_db()
    assert delivery.sent_via_id is None


def test_an_erased_subscriber_leaves_deliveries_that_still_count_but_point_nowhere():
    subscriber = SubscriberFactory()
    delivery = DeliveryFactory(subscriber=subscriber, recipient_key=subscriber.pk)
    subscriber_erase(subscriber=subscriber)
    delivery.refresh_from_db()
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    assert delivery.subscriber_id is None and delivery.recipient == ""
    assert Send.objects.filter(pk=delivery.send_id).exists()


def test_a_subscriber_deleted_in_bulk_unlinks_its_deliveries_too():
    subscribers = SubscriberFactory.create_batch(2)
    deliveries = [DeliveryFactory(subscriber=s, recipient_key=s.pk) for s in subscribers]
    Subscriber.objects.filter(pk__in=[s.pk for s in subscribers]).delete()
    assert not Delivery.objects.filter(pk__in=[d.pk for d in deliveries], subscriber__isnull=False).exists()
    assert Delivery.objects.filter(pk__in=[d.pk for d in deliveries]).count() == 2
