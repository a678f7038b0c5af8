"""The deliverability guard pauses sends whose bounce or complaint rate crosses its threshold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from analytics.models import GuardTrip
from analytics.services.guard import guard_channels_check, guard_sends_check
from channels_app.models import Channel, Delivery, Send
from channels_app.services.sends import send_resume
from tests.analytics.sns_signing import TOPIC_ARN, SnsSigner, sns_post
from tests.emulators.fixtures import SLACK_TOKEN
from tests.factories import ChannelFactory, DailyRollupFactory, DeliveryFactory, EngagementEventFactory, SendFactory
from tests.factories.analytics import ses_event

pytestmark = pytest.mark.django_db
SLACK_CHANNEL = "C0123456789"


@pytest.fixture
def alerts(settings, slack_emulator):
    ChannelFactory(
        name="Ops alerts",
        kind="slack",
        audience=Channel.Audience.BROADCAST,
        config={"channel": SLACK_CHANNEL, "base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )
    settings.GUARD_ALERT_CHANNEL = "Ops alerts"
    settings.GUARD_ALERT_EMAILS = ["deliverability@example.com"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.GUARD_MIN_SAMPLE = 200
    return slack_emulator


def _bounces(deliveries, kind="bounce", bounce_type="hard"):
    for delivery in deliveries:
        metadata = {"bounce_type": bounce_type} if kind == "bounce" else {}
        EngagementEventFactory(delivery=delivery, kind=kind, metadata=metadata)


def test_a_send_crossing_the_bounce_threshold_pauses_itself_and_alerts_slack_and_email(make_sent, alerts):
    deliveries = make_sent(300)
    send = deliveries[0].send
    _bounces(deliveries[:16])  # 5.33% > 5%
    [trip] = guard_sends_check(send_ids=[send.pk])
    send.refresh_from_db()
    assert send.status == Send.Status.PAUSED
    assert "hard bounce rate 5.33%" in send.paused_reason and "16 of 300" in send.paused_reason
    assert (trip.metric, trip.events, trip.sample, trip.paused_send_ids) == ("bounce", 16, 300, [send.pk])
    [message] = alerts.messages(channel=SLACK_CHANNEL)
    assert "hard bounce rate 5.33%" in message["text"]
    assert mail.outbox[0].to == ["deliverability@example.com"]
    assert "channel:Ops alerts" in trip.alerted and "email:" in trip.alerted


def test_an_email_alert_channel_mails_each_address_once(make_sent, settings, tmp_path):
    settings.BULLETIN_OUTBOX_DIR = tmp_path
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ChannelFactory(name="Ops mail", kind="email", config={"esp": "outbox", "from_email": "g@example.com"})
    settings.GUARD_ALERT_CHANNEL = "Ops mail"
    settings.GUARD_ALERT_EMAILS = ["deliverability@example.com"]
    settings.GUARD_MIN_SAMPLE = 200
    deliveries = make_sent(300)
    _bounces(deliveries[:16])
    [trip] = guard_sends_check(send_ids=[deliveries[0].send_id])
    assert len(list(tmp_path.glob("*.eml"))) == 1
    assert mail.outbox == []  # not a second copy through send_mail
    assert trip.alerted == "channel:Ops mail"


def test_below_the_threshold_nothing_pauses(make_sent, alerts):
    deliveries = make_sent(300)
    _bounces(deliveries[:15])  # exactly 5%: not crossed
    assert guard_sends_check(send_ids=[deliveries[0].send_id]) == []
    assert Send.objects.get(pk=deliveries[0].send_id).status == Send.Status.SENDING


def test_one_bounce_among_three_messages_does_not_pause(make_sent, alerts):
    deliveries = make_sent(3)
    _bounces(deliveries[:1])
    assert guard_sends_check(send_ids=[deliveries[0].send_id]) == []
    assert alerts.messages() == []


def test_soft_bounces_do_not_count_toward_the_bounce_rate(make_sent, alerts):
    deliveries = make_sent(200)
    _bounces(deliveries[:50], bounce_type="soft")
    assert guard_sends_check(send_ids=[deliveries[0].send_id]) == []


def test_complaints_above_a_tenth_of_a_percent_pause_the_send(make_sent, alerts):
    deliveries = make_sent(400)
    _bounces(deliveries[:1], kind="complaint")
    [trip] = guard_sends_check(send_ids=[deliveries[0].send_id])
    assert trip.metric == "complaint"
    assert "complaint rate 0.25%" in Send.objects.get(pk=deliveries[0].send_id).paused_reason


def test_a_resumed_send_is_not_paused_again_for_the_same_reason(make_sent, alerts):
    deliveries = make_sent(300)
    send = deliveries[0].send
    _bounces(deliveries[:20])
    guard_sends_check(send_ids=[send.pk])
    send_resume(send=Send.objects.get(pk=send.pk))
    assert guard_sends_check(send_ids=[send.pk]) == []
    assert Send.objects.get(pk=send.pk).status == Send.Status.SENDING
    assert GuardTrip.objects.count() == 1


def test_bounces_arriving_through_ses_pause_the_send(
    make_sent, alerts, settings, tmp_path, client, django_capture_on_commit_callbacks
):
    signer = SnsSigner(tmp_path)
    settings.SNS_CERTIFICATE_FILE, settings.SNS_TOPIC_ARNS = str(signer.cert_file), [TOPIC_ARN]
    deliveries = make_sent(200)
    for delivery in deliveries[:11]:
        with django_capture_on_commit_callbacks(execute=True):
            event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
            assert sns_post(client, signer.notification(event)).status_code == 200
    send = Send.objects.get(pk=deliveries[0].send_id)
    assert send.status == Send.Status.PAUSED and "11 of 200" in send.paused_reason


def test_a_channel_over_its_rolling_window_pauses_the_sends_queued_on_it(email_channel, alerts):
    busy = SendFactory(status=Send.Status.SENDING)
    DeliveryFactory(send=busy, channel=email_channel, state=Delivery.State.QUEUED)
    finished = SendFactory(status=Send.Status.COMPLETED)
    today = timezone.now().date()
    DailyRollupFactory(send=finished, channel=email_channel, day=today, sent=1000, hard_bounces=40)
    DailyRollupFactory(send=finished, channel=email_channel, day=today - timedelta(days=2), sent=1000, hard_bounces=70)
    DailyRollupFactory(send=finished, channel=email_channel, day=today - timedelta(days=30), sent=1000, hard_bounces=0)
    [trip] = guard_channels_check()
    assert trip.scope == "channel" and trip.paused_send_ids == [busy.pk]
    assert "5.50%" in trip.reason and "channel Email" in trip.reason
    assert Send.objects.get(pk=busy.pk).status == Send.Status.PAUSED
    assert guard_channels_check() == []  # once per window
