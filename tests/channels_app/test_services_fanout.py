"""Audience → deliveries: in SQL, in keyset pages, idempotent, suppression honoured."""

import pytest

from channels_app.models import Channel, Delivery, Send
from publishing.services.fanout import send_materialize, send_start
from subscribers.models import Subscriber
from tests.factories import ChannelFactory, SubscriberFactory, SubscriptionFactory, SuppressionFactory

pytestmark = pytest.mark.django_db


def _start(send):
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)


def test_materializing_creates_one_delivery_per_mailable_subscriber(
    outbox_channel, make_subscribers, make_send, settings
):
    settings.DELIVERY_MATERIALIZE_CHUNK = 7  # several keyset pages
    subscribers = make_subscribers(30)
    send = make_send()
    _start(send)
    created = send_materialize(send_id=send.pk)
    assert created == 30
    recipients = set(Delivery.objects.filter(send=send).values_list("recipient", flat=True))
    assert recipients == {s.email for s in subscribers}
    send.refresh_from_db()
    assert send.audience_ready and send.audience_size == 30


def test_materializing_again_creates_nothing(outbox_channel, make_subscribers, make_send):
    make_subscribers(5)
    send = make_send()
    _start(send)
    send_materialize(send_id=send.pk)
    Send.objects.filter(pk=send.pk).update(audience_ready=False)
    assert send_materialize(send_id=send.pk) == 0
    assert Delivery.objects.filter(send=send).count() == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"status": Subscriber.Status.PENDING},
        {"status": Subscriber.Status.UNSUBSCRIBED},
        {"status": Subscriber.Status.BOUNCED},
        {"paused_until": "2999-01-01T00:00:00Z"},
    ],
    ids=["pending", "unsubscribed", "bounced", "paused"],
)
def test_subscribers_who_must_not_be_mailed_are_left_out(outbox_channel, make_subscribers, make_send, kwargs):
    make_subscribers(2)
    make_subscribers(3, **kwargs)
    send = make_send()
    _start(send)
    assert send_materialize(send_id=send.pk) == 2


def test_a_suppressed_address_is_never_selected_even_when_active(outbox_channel, make_subscribers, make_send):
    [kept, suppressed] = make_subscribers(2)
    SuppressionFactory(email=suppressed.email)
    send = make_send()
    _start(send)
    send_materialize(send_id=send.pk)
    assert list(Delivery.objects.filter(send=send).values_list("recipient", flat=True)) == [kept.email]


def test_only_matching_frequency_and_topic_count(outbox_channel, topic, make_send):
    instant = SubscriberFactory()
    SubscriptionFactory(subscriber=instant, topic=topic, frequency="instant")
    SubscriptionFactory(subscriber=SubscriberFactory(), topic=topic, frequency="daily")
    SubscriptionFactory(subscriber=SubscriberFactory(), frequency="instant")  # another topic
    send = make_send()
    _start(send)
    send_materialize(send_id=send.pk)
    assert list(Delivery.objects.filter(send=send).values_list("subscriber_id", flat=True)) == [instant.pk]


def test_broadcast_destinations_of_the_topics_get_one_delivery_each(outbox_channel, topic, make_send):
    discord = ChannelFactory(
        kind="discord",
        audience=Channel.Audience.BROADCAST,
        config={},
        credentials={"url": "https://discord.example/api/webhooks/1/x"},
    )
    discord.topics.add(topic)
    ChannelFactory(kind="discord", audience=Channel.Audience.BROADCAST, credentials={"url": "https://x"})
    send = make_send(audience={"topic_ids": [topic.pk], "channel_kinds": [], "broadcast": True})
    _start(send)
    send_materialize(send_id=send.pk)
    deliveries = list(Delivery.objects.filter(send=send).values_list("channel_id", "recipient_key"))
    assert deliveries == [(discord.pk, 0)]


def test_slack_subscribers_need_a_member_id(make_send, topic):
    ChannelFactory(kind="slack", is_default=True, config={}, credentials={"token": "xoxb-1"})
    with_id = SubscriberFactory(slack_member_id="U123")
    SubscriptionFactory(subscriber=with_id, topic=topic, channel_kind="slack")
    SubscriptionFactory(subscriber=SubscriberFactory(slack_member_id=""), topic=topic, channel_kind="slack")
    send = make_send(audience={"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["slack"]})
    _start(send)
    send_materialize(send_id=send.pk)
    assert list(Delivery.objects.filter(send=send).values_list("recipient", flat=True)) == ["U123"]


def test_an_empty_audience_completes_the_send(outbox_channel, make_send):
    send = make_send()
    _start(send)
    send_materialize(send_id=send.pk)
    send.refresh_from_db()
    assert send.status == Send.Status.COMPLETED


def test_starting_twice_starts_once(outbox_channel, make_subscribers, make_send, django_capture_on_commit_callbacks):
    make_subscribers(3)
    send = make_send()
    with django_capture_on_commit_callbacks(execute=True) as first:
        send_start(send=send)
    with django_capture_on_commit_callbacks(execute=True) as second:
        send_start(send=send)
    assert len(first) >= 1 and len(second) == 0
    assert Delivery.objects.filter(send=send).count() == 3
