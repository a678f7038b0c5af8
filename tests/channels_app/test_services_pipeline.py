"""The hand-off, end to end through the real outbox and SMTP backends (tasks run eagerly)."""

import email
from email import policy

import pytest
from django.utils import timezone

from channels_app.adapters.base import SendResult
from channels_app.models import Channel, Delivery, Send
from channels_app.services.deliveries import deliveries_claim, deliveries_record
from channels_app.services.pipeline import delivery_batch_send
from channels_app.services.sends import deliveries_requeue, send_pause, send_progress
from publishing.services.fanout import send_start
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _outbox(settings):
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(settings.BULLETIN_OUTBOX_DIR.glob("*.eml"))
    ]


@pytest.fixture(autouse=True)
def _empty_outbox(settings):
    for path in settings.BULLETIN_OUTBOX_DIR.glob("*.eml"):
        path.unlink()


def _run(send, capture):
    with capture(execute=True):
        send_start(send=send)
    send.refresh_from_db()
    return send


def test_a_send_reaches_every_subscriber_exactly_once(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 4
    subscribers = make_subscribers(10)
    send = _run(make_send(), django_capture_on_commit_callbacks)
    messages = _outbox(settings)
    assert sorted(m["To"] for m in messages) == sorted(s.email for s in subscribers)
    assert send.status == Send.Status.COMPLETED
    assert send_progress(send=send)["sent"] == 10


def test_every_email_is_personal_and_carries_rfc_8058_headers_and_a_text_part(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    [subscriber] = make_subscribers(1, name="Ada <Lovelace>")
    _run(make_send(), django_capture_on_commit_callbacks)
    [message] = _outbox(settings)
    assert message["Subject"] == "Hello Ada <Lovelace>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/u/" in message["List-Unsubscribe"]
    assert message["List-Id"] == '"News" <news.lists.example.com>'  # RFC 2919
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Hi Ada &lt;Lovelace&gt;" in html
    assert "Hi Ada <Lovelace>" in text
    assert "/t/c/" in html and "example.com/article" not in html, "links are click-tracked"
    assert "/t/o/" in html, "an open pixel"
    delivery = Delivery.objects.get(subscriber=subscriber)
    assert delivery.provider_message_id == message["Message-ID"]


def test_running_a_batch_again_sends_nothing_more(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    make_subscribers(3)
    send = _run(make_send(), django_capture_on_commit_callbacks)
    ids = list(send.deliveries.values_list("pk", flat=True))
    again = delivery_batch_send(channel_id=outbox_channel.pk, delivery_ids=ids)
    assert again.claimed == 0
    assert len(_outbox(settings)) == 3


def test_a_delivery_is_claimed_once(outbox_channel, make_subscribers, make_send):
    make_subscribers(3)
    send = make_send()
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    from publishing.services.fanout import send_materialize

    send_materialize(send_id=send.pk)
    ids = list(send.deliveries.values_list("pk", flat=True))
    assert deliveries_claim(ids=ids).ids == ids
    assert deliveries_claim(ids=ids).ids == []


def test_deliveries_of_a_paused_send_or_not_yet_due_are_not_claimed(outbox_channel, make_subscribers, make_send):
    make_subscribers(2)
    send = make_send()
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    from publishing.services.fanout import send_materialize

    send_materialize(send_id=send.pk)
    first, second = send.deliveries.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now() + timezone.timedelta(hours=1))
    assert deliveries_claim(ids=[first.pk]).ids == []
    send_pause(send=send, reason="test")
    assert deliveries_claim(ids=[second.pk]).ids == []


def _claimed_delivery(outbox_channel, make_subscribers, make_send):
    make_subscribers(1)
    send = make_send()
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    from publishing.services.fanout import send_materialize

    send_materialize(send_id=send.pk)
    delivery = send.deliveries.get()
    deliveries_claim(ids=[delivery.pk])
    return delivery


def test_a_transient_failure_is_retried_later_honouring_retry_after(outbox_channel, make_subscribers, make_send):
    delivery = _claimed_delivery(outbox_channel, make_subscribers, make_send)
    outcome = deliveries_record(results=[SendResult(delivery.pk, False, error="429 slow down", retry_after=120)])
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.QUEUED
    assert delivery.last_error == "429 slow down"
    assert (delivery.next_attempt_at - timezone.now()).total_seconds() >= 119
    assert outcome.retrying == 1 and outcome.retry_due[0][1] >= 120


def test_a_delivery_is_dead_after_the_last_attempt(outbox_channel, make_subscribers, make_send, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    delivery = _claimed_delivery(outbox_channel, make_subscribers, make_send)
    deliveries_record(results=[SendResult(delivery.pk, False, error="503")])
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DEAD
    assert "gave up after 1 attempts" in delivery.last_error


def test_a_permanent_failure_is_recorded_with_its_reason(outbox_channel, make_subscribers, make_send):
    delivery = _claimed_delivery(outbox_channel, make_subscribers, make_send)
    deliveries_record(results=[SendResult(delivery.pk, False, error="MessageRejected: bad address", permanent=True)])
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == (Delivery.State.FAILED, "MessageRejected: bad address")


def test_dead_letters_can_be_requeued_and_then_go_out(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    delivery = _claimed_delivery(outbox_channel, make_subscribers, make_send)
    deliveries_record(results=[SendResult(delivery.pk, False, error="503")])
    with django_capture_on_commit_callbacks(execute=True):
        assert deliveries_requeue(deliveries=Delivery.objects.filter(pk=delivery.pk)) == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert len(_outbox(settings)) == 1


def test_a_disabled_channel_fails_its_deliveries_with_the_reason(
    outbox_channel, make_subscribers, make_send, django_capture_on_commit_callbacks
):
    make_subscribers(2)
    Channel.objects.filter(pk=outbox_channel.pk).update(is_active=False, disabled_reason="token revoked")
    outbox_channel.refresh_from_db()
    send = make_send()
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    from publishing.services.fanout import send_materialize

    # The fan-out skips a disabled default channel entirely; a batch already queued fails.
    Channel.objects.filter(pk=outbox_channel.pk).update(is_active=True)
    send_materialize(send_id=send.pk)
    Channel.objects.filter(pk=outbox_channel.pk).update(is_active=False)
    ids = list(send.deliveries.values_list("pk", flat=True))
    outcome = delivery_batch_send(channel_id=outbox_channel.pk, delivery_ids=ids)
    assert outcome.failed == 2
    assert set(send.deliveries.values_list("last_error", flat=True)) == {"channel disabled: token revoked"}


def test_while_the_primary_is_down_the_fallback_channel_carries_the_mail(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    """The primary speaks SMTP to a port where nothing listens: the circuit opens after the
    first failure and the next attempt goes through the fallback (the outbox)."""
    settings.CIRCUIT_FAILURE_THRESHOLD = 1
    Channel.objects.filter(pk=outbox_channel.pk).update(is_default=False)
    primary = ChannelFactory(
        name="SMTP",
        is_default=True,
        fallbacks=[outbox_channel.pk],
        config={"esp": "smtp", "host": "127.0.0.1", "port": 9, "from_email": "n@example.com"},
    )
    make_subscribers(3)
    send = _run(make_send(), django_capture_on_commit_callbacks)
    ids = list(send.deliveries.values_list("pk", flat=True))
    first = Delivery.objects.filter(pk__in=ids)
    assert set(first.values_list("state", flat=True)) == {Delivery.State.QUEUED}
    assert "Connection refused" in first.first().last_error or "connect" in first.first().last_error
    primary.refresh_from_db()
    assert primary.circuit_state == "open"

    Delivery.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())
    outcome = delivery_batch_send(channel_id=primary.pk, delivery_ids=ids)
    assert outcome.sent == 3
    assert set(Delivery.objects.filter(pk__in=ids).values_list("sent_via", flat=True)) == {outbox_channel.pk}
    assert len(_outbox(settings)) == 3


def _send_through(channel, make_send, topic, django_capture_on_commit_callbacks, kind, url="https://hooks.example/x"):
    from tests.factories import SubscriberFactory, SubscriptionFactory

    subscriber = SubscriberFactory(slack_member_id="U0ADA0001", webhook_url=url)
    SubscriptionFactory(subscriber=subscriber, topic=topic, channel_kind=kind)
    audience = {"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": [kind]}
    return _run(make_send(audience=audience), django_capture_on_commit_callbacks)


def test_a_revoked_slack_token_disables_the_channel_and_fails_deliveries_with_the_reason(
    slack_emulator, make_send, topic, django_capture_on_commit_callbacks
):
    slack_emulator.set_token("xoxb-revoked", "token_revoked")
    channel = ChannelFactory(
        kind="slack", is_default=True, config={"base_url": slack_emulator.url}, credentials={"token": "xoxb-revoked"}
    )
    send = _send_through(channel, make_send, topic, django_capture_on_commit_callbacks, "slack")
    delivery = send.deliveries.get()
    assert delivery.state == Delivery.State.FAILED
    assert "token_revoked" in delivery.last_error
    channel.refresh_from_db()
    assert not channel.is_active and "token_revoked" in channel.disabled_reason


def test_a_malformed_channel_config_fails_deliveries_with_a_clear_reason(
    make_send, topic, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(kind="webhook", is_default=True, config={}, credentials={"secret": "not-a-secret"})
    send = _send_through(channel, make_send, topic, django_capture_on_commit_callbacks, "webhook")
    delivery = send.deliveries.get()
    assert delivery.state == Delivery.State.FAILED
    assert "invalid channel configuration" in delivery.last_error and "secret" in delivery.last_error
    channel.refresh_from_db()
    assert not channel.is_active


def test_a_bad_webhook_url_fails_that_delivery_and_nothing_crashes(
    make_send, topic, settings, django_capture_on_commit_callbacks
):
    from channels_app.adapters.webhook import generate_secret

    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    channel = ChannelFactory(kind="webhook", is_default=True, config={}, credentials={"secret": generate_secret()})
    send = _send_through(
        channel, make_send, topic, django_capture_on_commit_callbacks, "webhook", url="http://10.0.0.1/internal"
    )
    delivery = send.deliveries.get()
    assert delivery.state == Delivery.State.FAILED
    assert "private address" in delivery.last_error
    channel.refresh_from_db()
    assert channel.is_active, "one subscriber's bad URL does not disable the channel"
