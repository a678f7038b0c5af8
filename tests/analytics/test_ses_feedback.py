"""SES notifications through SNS, posted and signed as SNS posts them, change the right delivery
and subscriber; anything not verifiably from SNS for our topic changes nothing."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import EngagementEvent, HygieneAction, ProviderNotification
from analytics.services.feedback import provider_notification_process, provider_notifications_retry
from channels_app.models import Delivery
from subscribers.models import Subscriber, Suppression
from tests.analytics.sns_signing import TOPIC_ARN
from tests.factories.analytics import ses_event

pytestmark = pytest.mark.django_db


def _state(delivery) -> tuple[str, str]:
    delivery.refresh_from_db()
    subscriber = Subscriber.objects.get(pk=delivery.subscriber_id)
    return delivery.state, subscriber.status


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_hard_bounce_bounces_the_delivery_and_suppresses_the_address(make_sent, signer, post, version):
    [delivery, other] = make_sent(2)
    event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    response = post(signer.notification(event, version=version))
    assert response.status_code == 200
    assert _state(delivery) == ("bounced", "bounced")
    assert _state(other) == ("sent", "active")
    suppression = Suppression.objects.get(email=delivery.recipient)
    assert suppression.reason == "hard_bounce" and "Permanent/General" in suppression.note
    [bounce] = EngagementEvent.objects.filter(delivery=delivery)
    assert bounce.kind == "bounce"
    assert bounce.metadata["bounce_type"] == "hard" and bounce.metadata["bounce_type_raw"] == "Permanent"
    assert "550 5.1.1" in bounce.metadata["diagnostic"]
    assert bounce.occurred_at.isoformat().startswith("2026-11-20T10:00:00")
    action = HygieneAction.objects.get(email=delivery.recipient)
    assert action.kind == "hard_bounce" and action.delivery_id == delivery.pk and "550" in action.reason
    assert ProviderNotification.objects.get().status == "processed"


def test_a_complaint_marks_the_delivery_and_suppresses_the_subscriber(make_sent, signer, post):
    [delivery] = make_sent()
    post(
        signer.notification(
            ses_event("Delivery", message_id=delivery.provider_message_id, recipient=delivery.recipient)
        )
    )
    post(
        signer.notification(
            ses_event("Complaint", message_id=delivery.provider_message_id, recipient=delivery.recipient)
        )
    )
    assert _state(delivery) == ("complained", "complained")
    assert Suppression.objects.get(email=delivery.recipient).reason == "complaint"
    kinds = sorted(EngagementEvent.objects.filter(delivery=delivery).values_list("kind", flat=True))
    assert kinds == ["complaint", "delivered"]
    assert HygieneAction.objects.get().kind == "complaint"


def test_a_delivery_notification_marks_the_delivery_delivered_and_leaves_the_subscriber_alone(make_sent, signer, post):
    [delivery] = make_sent()
    post(
        signer.notification(
            ses_event("Delivery", message_id=delivery.provider_message_id, recipient=delivery.recipient)
        )
    )
    assert _state(delivery) == ("delivered", "active")
    [event] = EngagementEvent.objects.all()
    assert event.kind == "delivered" and "250" in event.metadata["smtp_response"]
    assert not Suppression.objects.exists() and not HygieneAction.objects.exists()


def test_a_late_delivery_notification_never_undoes_a_bounce(make_sent, signer, post):
    [delivery] = make_sent()
    mid, to = delivery.provider_message_id, delivery.recipient
    post(signer.notification(ses_event("Bounce", message_id=mid, recipient=to)))
    post(signer.notification(ses_event("Delivery", message_id=mid, recipient=to)))
    assert _state(delivery) == ("bounced", "bounced")


@pytest.mark.parametrize("bounce_type", ["Transient", "Undetermined"])
def test_soft_bounces_suppress_only_after_the_configured_count(make_sent, signer, post, settings, bounce_type):
    settings.HYGIENE_SOFT_BOUNCE_LIMIT = 3
    deliveries = make_sent(1) + make_sent(1) + make_sent(1)
    subscriber = deliveries[0].subscriber
    for delivery in deliveries[1:]:
        Delivery.objects.filter(pk=delivery.pk).update(subscriber=subscriber, recipient=subscriber.email)
    for number, delivery in enumerate(deliveries, start=1):
        event = ses_event(
            "Bounce", message_id=delivery.provider_message_id, recipient=subscriber.email, bounce_type=bounce_type
        )
        post(signer.notification(event))
        subscriber.refresh_from_db()
        assert subscriber.status == ("bounced" if number == 3 else "active"), number
    assert Suppression.objects.get(email=subscriber.email).reason == "soft_bounce"
    assert HygieneAction.objects.filter(kind="soft_bounce").count() == 3
    assert "3 soft bounces" in HygieneAction.objects.get(kind="soft_bounces").reason
    assert set(EngagementEvent.objects.values_list("metadata__bounce_type", flat=True)) == {"soft"}


def test_soft_bounces_outside_the_window_do_not_add_up(make_sent, signer, post, settings):
    settings.HYGIENE_SOFT_BOUNCE_LIMIT = 2
    first, second = make_sent(1, subscriber=None) + make_sent(1, subscriber=None)
    Delivery.objects.filter(pk__in=[first.pk, second.pk]).update(recipient="flaky@example.com")
    post(
        signer.notification(
            ses_event(
                "Bounce", message_id=first.provider_message_id, recipient="flaky@example.com", bounce_type="Transient"
            )
        )
    )
    HygieneAction.objects.update(
        created_at=timezone.now() - timedelta(days=settings.HYGIENE_SOFT_BOUNCE_WINDOW_DAYS + 1)
    )
    post(
        signer.notification(
            ses_event(
                "Bounce", message_id=second.provider_message_id, recipient="flaky@example.com", bounce_type="Transient"
            )
        )
    )
    assert not Suppression.objects.exists()


def test_a_reject_fails_the_delivery_with_the_reason(make_sent, signer, post):
    [delivery] = make_sent()
    post(
        signer.notification(ses_event("Reject", message_id=delivery.provider_message_id, recipient=delivery.recipient))
    )
    delivery.refresh_from_db()
    assert delivery.state == "failed" and "Bad content" in delivery.last_error
    assert not Suppression.objects.exists()


def test_ses_open_events_are_ignored_because_bulletin_tracks_opens_itself(make_sent, signer, post):
    [delivery] = make_sent()
    post(signer.notification(ses_event("Open", message_id=delivery.provider_message_id, recipient=delivery.recipient)))
    assert not EngagementEvent.objects.exists()
    assert ProviderNotification.objects.get().result["ignored"] == 1


def test_sns_delivering_the_same_message_twice_changes_things_once(make_sent, signer, post):
    [delivery] = make_sent()
    message = signer.notification(
        ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    )
    assert post(message).status_code == 200
    assert post(message).status_code == 200
    notification = ProviderNotification.objects.get()
    notification.status = "received"
    notification.save(update_fields=["status"])
    provider_notification_process(notification_id=notification.pk)  # processed again on purpose
    assert EngagementEvent.objects.count() == 1
    assert HygieneAction.objects.count() == 1


def test_feedback_for_a_delivery_not_yet_recorded_is_retried_until_it_is(make_sent, signer, post):
    [delivery] = make_sent(provider_message_id="")
    post(signer.notification(ses_event("Bounce", message_id="0100-late", recipient=delivery.recipient)))
    notification = ProviderNotification.objects.get()
    assert notification.status == "retrying" and notification.result["unmatched"] == 1
    assert Suppression.objects.filter(email=delivery.recipient).exists()  # hygiene does not wait
    Delivery.objects.filter(pk=delivery.pk).update(provider_message_id="0100-late")
    ProviderNotification.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    assert provider_notifications_retry() == 1
    assert _state(delivery) == ("bounced", "bounced")
    assert HygieneAction.objects.count() == 1


def _forged(signer, delivery, case: str) -> tuple[dict, str | None]:
    event = ses_event("Complaint", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    good = signer.notification(event)
    if case == "other_key":
        from cryptography.hazmat.primitives.asymmetric import rsa

        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return signer.sign(
            {k: v for k, v in good.items() if k not in ("Signature", "SignatureVersion")}, key=other
        ), None
    if case == "tampered_message":
        return {**good, "Message": json.dumps({**event, "eventType": "Complaint", "x": 1})}, None
    if case == "unsigned":
        return {k: v for k, v in good.items() if k != "Signature"}, None
    if case == "evil_cert_url":
        return signer.sign({**good, "SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem"}), None
    if case == "http_cert_url":
        return signer.sign({**good, "SigningCertURL": good["SigningCertURL"].replace("https", "http")}), None
    if case == "other_topic":
        return signer.notification(event, topic_arn="arn:aws:sns:eu-west-1:999999999999:someone-else"), None
    if case == "version_3":
        return {**good, "SignatureVersion": "3"}, None
    if case == "not_base64":
        return {**good, "Signature": "!!!"}, None
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "other_key",
        "tampered_message",
        "unsigned",
        "evil_cert_url",
        "http_cert_url",
        "other_topic",
        "version_3",
        "not_base64",
    ],
)
def test_a_forged_notification_is_refused_logged_and_changes_nothing(make_sent, signer, post, caplog, case):
    [delivery] = make_sent()
    message, _ = _forged(signer, delivery, case)
    with caplog.at_level(logging.WARNING, logger="analytics.webhooks"):
        response = post(message)
    assert response.status_code == 403
    assert "rejected SES webhook POST" in caplog.text
    assert _state(delivery) == ("sent", "active")
    assert not ProviderNotification.objects.exists()
    assert not EngagementEvent.objects.exists() and not Suppression.objects.exists()


def test_a_body_that_is_not_json_is_a_bad_request(make_sent, signer, post):
    message = signer.notification({"eventType": "Delivery"})
    assert post(message, raw="not json").status_code == 400
    assert not ProviderNotification.objects.exists()


def test_headers_that_disagree_with_the_body_are_refused(client, signer, make_sent):
    [delivery] = make_sent()
    message = signer.notification(
        ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    )
    response = client.post(
        "/anymail/amazon_ses/tracking/",
        data=json.dumps(message),
        content_type="text/plain",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
        HTTP_X_AMZ_SNS_MESSAGE_ID="something-else",
    )
    assert response.status_code == 403
    assert not ProviderNotification.objects.exists()


def test_a_subscription_confirmation_for_our_topic_is_confirmed(signer, post, settings, httpserver):
    settings.SNS_ENDPOINT_URL = httpserver.url_for("/")
    message = signer.confirmation(version="2")
    query = {"Action": "ConfirmSubscription", "TopicArn": TOPIC_ARN, "Token": message["Token"]}
    httpserver.expect_oneshot_request("/", query_string=query).respond_with_data(
        f"<ConfirmSubscriptionResponse><ConfirmSubscriptionResult><SubscriptionArn>{TOPIC_ARN}:sub-1</SubscriptionArn>"
        "</ConfirmSubscriptionResult></ConfirmSubscriptionResponse>"
    )
    assert post(message).status_code == 200
    notification = ProviderNotification.objects.get()
    assert notification.status == "processed" and notification.result["confirmed"] == f"{TOPIC_ARN}:sub-1"
    assert len(httpserver.log) == 1


def test_a_subscription_confirmation_for_another_topic_is_refused_and_never_confirmed(
    signer, post, settings, httpserver
):
    settings.SNS_ENDPOINT_URL = httpserver.url_for("/")
    message = signer.confirmation(topic_arn="arn:aws:sns:eu-west-1:999999999999:not-ours")
    assert post(message).status_code == 403
    assert not ProviderNotification.objects.exists() and httpserver.log == []


def test_a_downloaded_certificate_must_be_amazons(signer, settings, monkeypatch):
    from analytics.services import sns

    settings.SNS_CERTIFICATE_FILE = ""
    monkeypatch.setattr(
        sns.requests,
        "get",
        lambda url, **kw: type(
            "R", (), {"content": signer.cert_file.read_bytes(), "raise_for_status": lambda self: None}
        )(),
    )
    certificate = sns.sns_certificate("https://sns.eu-west-1.amazonaws.com/x.pem")  # CN sns.amazonaws.com
    assert certificate.subject.rfc4514_string() == "CN=sns.amazonaws.com"
