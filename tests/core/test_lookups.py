"""`field__any=[...]` selects what `field__in` selects, with one array parameter on PostgreSQL."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from subscribers.models import Subscriber, Subscription
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_any_matches_in_on_keys_and_foreign_keys():
    subscribers = SubscriberFactory.create_batch(4)
    for subscriber in subscribers[:3]:
        SubscriptionFactory(subscriber=subscriber)
    wanted = [subscribers[0].pk, subscribers[2].pk, subscribers[3].pk, 10**9]
    assert set(Subscriber.objects.filter(pk__any=wanted)) == set(Subscriber.objects.filter(pk__in=wanted))
    by_fk = Subscription.objects.filter(subscriber_id__any=wanted).values_list("subscriber_id", flat=True)
    assert sorted(by_fk) == sorted([subscribers[0].pk, subscribers[2].pk])
    assert not Subscriber.objects.filter(pk__any=[]).exists()


def test_postgresql_gets_one_array_and_other_databases_an_in_list():
    with CaptureQueriesContext(connection) as queries:
        list(Subscriber.objects.filter(pk__any=list(range(1000))))
    expected = "= ANY(" if connection.vendor == "postgresql" else " IN ("
    assert expected in queries[0]["sql"]
