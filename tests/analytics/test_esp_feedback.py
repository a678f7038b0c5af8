"""Postmark, SendGrid, Mailgun and Brevo feedback, end to end: a real send through the pipeline
to the ESP's emulator (the delivery keeps the message id the ESP answered), then the ESP's own
tracking webhooks, signed or authenticated as the ESP does it, posted to the channel's URL.
They must change deliveries and subscribers exactly as SES's notifications do; anything not
verifiably from the channel's ESP changes nothing."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import EngagementEvent, GuardTrip, HygieneAction, ProviderNotification, RollupDirtyCell
from analytics.services.feedback import provider_notifications_retry
from channels_app.models import Channel, Delivery, Send
from channels_app.services.sends import send_create
from publishing.services.fanout import send_start
from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.emulators.esp_events import sendgrid_key_pair, webhook_post
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
ESPS = ["postmark", "sendgrid", "mailgun", "brevo"]
BASIC = "bulletin:hook-s3cret"
MAILGUN_KEY = "mg-signing-key-0123456789abcdef"
SENDGRID_KEY, SENDGRID_PUBLIC = sendgrid_key_pair()


def webhook_credentials(esp: str) -> dict[str, str]:
    return {
        "postmark": {"webhook_secret": BASIC},
        "brevo": {"webhook_secret": BASIC},
        "mailgun": {"webhook_signing_key": MAILGUN_KEY},
        "sendgrid": {"webhook_verification_key": SENDGRID_PUBLIC},
    }[esp]


def signing(esp: str) -> dict[str, Any]:
    """How the ESP authenticates its posts to a channel set up with webhook_credentials(esp)."""
    return {
        "postmark": {"secret": BASIC},
        "brevo": {"secret": BASIC},
        "mailgun": {"signing_key": MAILGUN_KEY},
        "sendgrid": {"sendgrid_private_key": SENDGRID_KEY},
    }[esp]


@dataclass
class Sent:
    esp: str
    channel: Channel
    emulator: Any
    deliveries: list[Delivery]
    capture: Any

    def url(self, channel: Channel | None = None, esp: str | None = None) -> str:
        return f"/anymail/{esp or self.esp}/tracking/{(channel or self.channel).pk}/"

    def post(self, kind: str, delivery: Delivery, *, url: str | None = None, **auth):
        [message] = self.emulator.messages(to=delivery.recipient)
        request = webhook_post(self.esp, kind, message, **(auth or signing(self.esp)))
        return self.post_raw(request.body, url=url, **request.headers)

    def post_raw(self, body: str, *, url: str | None = None, **headers):
        with self.capture(execute=True):
            client = Client(enforce_csrf_checks=True)  # ESPs send no CSRF token
            return client.post(url or self.url(), body, content_type="application/json", **headers)


@pytest.fixture(params=ESPS)
def sent(request, make_readers, topic, django_capture_on_commit_callbacks) -> Sent:
    """Two subscribers sent one alert through the ESP's emulator by the real pipeline."""
    esp = request.param
    emulator = request.getfixturevalue(f"{esp}_emulator")
    config, credentials = emulator.channel_settings()
    channel = ChannelFactory(
        name=f"{esp} mail",
        kind="email",
        is_default=True,
        config={**config, "list_id": "lists.example.com"},
        credentials={**credentials, **webhook_credentials(esp)},
    )
    make_readers(2)
    audience = {"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["email"]}
    send, _ = send_create(key="esp-1", kind=Send.Kind.ALERT, subject="Hello", content=EMAIL_CONTENT, audience=audience)
    with django_capture_on_commit_callbacks(execute=True):
        send_start(send=send)
    deliveries = list(Delivery.objects.filter(send=send).order_by("pk"))
    assert [d.state for d in deliveries] == ["sent", "sent"]
    assert sorted(d.provider_message_id for d in deliveries) == sorted(m["message_id"] for m in emulator.messages())
    return Sent(esp, channel, emulator, deliveries, django_capture_on_commit_callbacks)


def _state(delivery: Delivery) -> tuple[str, str]:
    delivery.refresh_from_db()
    return delivery.state, Subscriber.objects.get(pk=delivery.subscriber_id).status


def test_a_hard_bounce_bounces_the_delivery_and_suppresses_the_address(sent):
    bounced, other = sent.deliveries
    response = sent.post("hard_bounce", bounced)
    assert response.status_code == 200, response.content
    assert _state(bounced) == ("bounced", "bounced")
    assert _state(other) == ("sent", "active")
    assert Suppression.objects.get(email=bounced.recipient).reason == "hard_bounce"
    [event] = EngagementEvent.objects.filter(delivery=bounced)
    assert event.kind == "bounce" and event.metadata["bounce_type"] == "hard"
    assert "550" in event.metadata["diagnostic"]
    action = HygieneAction.objects.get(email=bounced.recipient)
    assert action.kind == "hard_bounce" and action.delivery_id == bounced.pk
    assert ProviderNotification.objects.get().status == "processed"
    assert RollupDirtyCell.objects.filter(send_id=bounced.send_id, channel_id=sent.channel.pk).exists()


def test_a_complaint_marks_the_delivery_and_suppresses_the_subscriber(sent):
    delivery = sent.deliveries[0]
    assert sent.post("delivered", delivery).status_code == 200
    assert _state(delivery) == ("delivered", "active")
    assert sent.post("complaint", delivery).status_code == 200
    assert _state(delivery) == ("complained", "complained")
    assert Suppression.objects.get(email=delivery.recipient).reason == "complaint"
    assert sorted(EngagementEvent.objects.filter(delivery=delivery).values_list("kind", flat=True)) == [
        "complaint",
        "delivered",
    ]


def test_a_delivery_marks_the_delivery_delivered_and_a_late_one_never_undoes_a_bounce(sent):
    first, second = sent.deliveries
    assert sent.post("delivered", first).status_code == 200
    assert _state(first) == ("delivered", "active")
    sent.post("hard_bounce", second)
    sent.post("delivered", second)
    assert _state(second) == ("bounced", "bounced")


@pytest.mark.parametrize("sent", ["sendgrid", "mailgun", "brevo"], indirect=True)
def test_a_message_the_esp_refused_to_send_fails_with_its_reason_and_suppresses_nobody(sent):
    delivery = sent.deliveries[0]
    assert sent.post("rejected", delivery).status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "reject" in delivery.last_error
    assert any(word in delivery.last_error for word in ("ounced", "Sandbox", "blocked"))
    assert EngagementEvent.objects.get(delivery=delivery).kind == "reject"
    assert not Suppression.objects.exists()


def test_soft_bounces_suppress_only_after_the_configured_count(sent, settings):
    settings.HYGIENE_SOFT_BOUNCE_LIMIT = 2
    delivery = sent.deliveries[0]
    assert sent.post("soft_bounce", delivery).status_code == 200
    if sent.esp == "mailgun":
        # Mailgun reports a temporary failure as one it keeps retrying (a deferral), not a bounce.
        assert _state(delivery) == ("sent", "active")
        assert ProviderNotification.objects.get().status == "ignored"
        return
    assert _state(delivery) == ("bounced", "active")
    assert EngagementEvent.objects.get(delivery=delivery).metadata["bounce_type"] == "soft"
    assert not Suppression.objects.filter(email=delivery.recipient).exists()
    sent.post("soft_bounce", delivery)
    assert Suppression.objects.get(email=delivery.recipient).reason == "soft_bounce"


def test_the_same_post_delivered_twice_changes_things_once(sent):
    delivery = sent.deliveries[0]
    [message] = sent.emulator.messages(to=delivery.recipient)
    request = webhook_post(sent.esp, "hard_bounce", message, **signing(sent.esp))
    assert sent.post_raw(request.body, **request.headers).status_code == 200
    assert sent.post_raw(request.body, **request.headers).status_code == 200
    assert ProviderNotification.objects.count() == 1
    assert EngagementEvent.objects.filter(delivery=delivery).count() == 1
    assert HygieneAction.objects.filter(email=delivery.recipient).count() == 1


def _forgeries(esp: str) -> dict[str, dict[str, Any]]:
    other_key, _ = sendgrid_key_pair()
    return {
        "postmark": {"no auth": {}, "wrong secret": {"secret": "bulletin:guess"}},
        "brevo": {"no auth": {}, "wrong secret": {"secret": "bulletin:guess"}},
        "mailgun": {
            "wrong key": {"signing_key": "not-the-key"},
            "replayed": {"signing_key": MAILGUN_KEY, "timestamp": time.time() - 7200},
        },
        "sendgrid": {"unsigned": {"secret": BASIC}, "wrong key": {"sendgrid_private_key": other_key}},
    }[esp]


def test_a_forged_webhook_is_refused_and_changes_nothing(sent, caplog):
    delivery = sent.deliveries[0]
    for case, auth in _forgeries(sent.esp).items():
        response = sent.post("hard_bounce", delivery, **(auth or {"secret": ""}))
        assert response.status_code == 403, case
        assert response.json()["message"].startswith("Forbidden")
    assert _state(delivery) == ("sent", "active")
    assert not ProviderNotification.objects.exists() and not Suppression.objects.exists()
    assert "rejected" in caplog.text


def _tampered(sent: Sent) -> tuple[str, dict, str, Delivery]:
    delivery, other = sent.deliveries
    [message] = sent.emulator.messages(to=delivery.recipient)
    request = webhook_post(sent.esp, "hard_bounce", message, **signing(sent.esp))
    return request.body, request.headers, request.body.replace(delivery.recipient, other.recipient), other


@pytest.mark.parametrize("sent", ["sendgrid"], indirect=True)  # Postmark, Brevo: basic auth; Mailgun: below
def test_a_sendgrid_body_changed_after_signing_is_refused(sent):
    _, headers, tampered, other = _tampered(sent)
    assert sent.post_raw(tampered, **headers).status_code == 403
    assert _state(other) == ("sent", "active")


@pytest.mark.parametrize("sent", ["mailgun"], indirect=True)
def test_a_mailgun_signature_used_once_cannot_carry_another_event(sent):
    # Mailgun signs timestamp + token only: a token is good for one event, as Mailgun advises.
    original, headers, tampered, other = _tampered(sent)
    assert sent.post_raw(original, **headers).status_code == 200
    assert sent.post_raw(tampered, **headers).status_code == 200
    assert _state(other) == ("sent", "active")
    assert ProviderNotification.objects.count() == 1


def test_another_channels_secret_does_not_verify_posts_to_this_channel(sent):
    config, credentials = sent.emulator.channel_settings()
    other = ChannelFactory(
        name="other",
        kind="email",
        config=config,
        credentials={**credentials, "webhook_secret": "other:pw", "webhook_signing_key": "other-key"},
    )
    delivery = sent.deliveries[0]
    auth = {"secret": "other:pw", "signing_key": "other-key"}
    if sent.esp == "sendgrid":
        auth = {"secret": "other:pw"}
    response = sent.post("hard_bounce", delivery, **auth)
    assert response.status_code == 403
    assert sent.post("hard_bounce", delivery, url=sent.url(other), **auth).status_code == 200
    assert _state(delivery) == ("bounced", "bounced")  # the message id finds the delivery either way


def test_a_channel_without_webhook_credentials_accepts_nothing(sent):
    Channel.objects.filter(pk=sent.channel.pk).update(credentials={})
    response = sent.post("hard_bounce", sent.deliveries[0], secret="")
    assert response.status_code == 403 and "webhook secret" in response.json()["message"]
    assert not ProviderNotification.objects.exists()


def test_urls_that_name_no_such_channel_are_not_found(sent):
    slack = ChannelFactory(name="slack", kind="slack", config={"channel": "C1"}, credentials={"token": "x"})
    other_esp = "brevo" if sent.esp != "brevo" else "postmark"
    for url in (
        sent.url(esp=other_esp),
        sent.url(slack),
        f"/anymail/{sent.esp}/tracking/999999/",
        f"/anymail/sparkpost/tracking/{sent.channel.pk}/",
    ):
        response = sent.post("hard_bounce", sent.deliveries[0], url=url)
        assert response.status_code == 404, url
        assert "Not found" in response.json()["message"]


def test_bodies_that_are_not_the_esps_json_are_bad_requests(sent, settings):
    headers = webhook_post(sent.esp, "delivered", sent.emulator.messages()[0], **signing(sent.esp)).headers
    assert sent.post_raw("not json", **headers).status_code == 400
    deep = "[" * 200 + "]" * 200
    assert sent.post_raw(deep, **headers).status_code == 400
    # JSON, not the ESP's: 400 where basic auth passed; signed ESPs never got past the signature
    expected = {"postmark": 400, "brevo": 400, "mailgun": 403, "sendgrid": 403}[sent.esp]
    assert sent.post_raw("[1, 2]", **headers).status_code == expected
    settings.API_MAX_BODY_BYTES = 100
    assert sent.post_raw(json.dumps({"x": "y" * 200}), **headers).status_code == 413
    assert not ProviderNotification.objects.exists()


def test_an_unsubscribe_the_esp_reports_stops_what_the_message_stood_for(sent):
    delivery, other = sent.deliveries
    assert sent.post("unsubscribe", delivery).status_code == 200
    # This alert stood for no topic in particular: like its one-click link, it stops everything.
    assert Subscriber.objects.get(pk=delivery.subscriber_id).status == "unsubscribed"
    assert Suppression.objects.get(email=delivery.recipient).reason == "unsubscribed"
    record = ConsentRecord.objects.get(subscriber_id=delivery.subscriber_id, action="unsubscribed")
    assert "reported by" in record.source
    assert EngagementEvent.objects.get(delivery=delivery).kind == "unsubscribe"
    assert _state(other) == ("sent", "active")
    assert Subscription.objects.get(subscriber_id=other.subscriber_id).frequency == "instant"


def test_esp_opens_count_only_where_bulletin_does_not_track_itself(sent):
    delivery = sent.deliveries[0]
    sent.post("open", delivery)
    assert not EngagementEvent.objects.filter(delivery=delivery).exists()  # Bulletin's pixel counts here
    Channel.objects.filter(pk=sent.channel.pk).update(tracking_enabled=False)
    sent.post("click", delivery)
    [click] = EngagementEvent.objects.filter(delivery=delivery)
    assert click.kind == "click" and click.metadata["source"] == sent.esp
    assert click.metadata["link"] == "https://example.com/article"


def test_feedback_for_a_delivery_not_yet_recorded_waits_for_it(sent):
    delivery = sent.deliveries[0]
    message_id = delivery.provider_message_id
    Delivery.objects.filter(pk=delivery.pk).update(provider_message_id="")
    sent.post("delivered", delivery)
    notification = ProviderNotification.objects.get()
    assert notification.status == "retrying" and notification.result["unmatched"] == 1
    Delivery.objects.filter(pk=delivery.pk).update(provider_message_id=message_id)
    ProviderNotification.objects.filter(pk=notification.pk).update(received_at=timezone.now() - timedelta(minutes=2))
    assert provider_notifications_retry() == 1  # the beat's retry picks it up
    assert _state(delivery) == ("delivered", "active")
    notification.refresh_from_db()
    assert notification.status == "processed"


def test_bounces_through_the_esp_pause_a_send_still_going_out(sent, settings):
    settings.GUARD_MIN_SAMPLE = 2
    send = Send.objects.get(pk=sent.deliveries[0].send_id)
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)  # a large send, still going out
    sent.post("hard_bounce", sent.deliveries[0])
    send.refresh_from_db()
    assert send.status == Send.Status.PAUSED and "1 of 2" in send.paused_reason
    assert GuardTrip.objects.get().metric == "bounce"


@pytest.mark.parametrize("sent", ["sendgrid"], indirect=True)
def test_sendgrid_without_signing_verifies_basic_auth_instead(sent):
    Channel.objects.filter(pk=sent.channel.pk).update(credentials={"api_key": "k", "webhook_secret": BASIC})
    delivery = sent.deliveries[0]
    assert sent.post("hard_bounce", delivery, secret="bulletin:guess").status_code == 403
    assert sent.post("hard_bounce", delivery, secret=BASIC).status_code == 200
    assert _state(delivery) == ("bounced", "bounced")
