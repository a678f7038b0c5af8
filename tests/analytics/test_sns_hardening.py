"""The SES/SNS webhook and the processing behind it hold against hostile and odd input:
unauthenticated junk is a 4xx in the JSON error format and stores nothing, replays older than an
hour are refused, and one signed but oddly shaped notification never holds up the others; after
FEEDBACK_MAX_ATTEMPTS it is dead, with its reason in admin (issue 11, items 9 and 10)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from analytics.models import EngagementEvent, ProviderNotification
from analytics.services.feedback import provider_notification_process, provider_notifications_retry
from tests.analytics.sns_signing import WEBHOOK_URL, sns_post
from tests.factories.analytics import ses_event

pytestmark = pytest.mark.django_db


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _assert_json_error(response, status: int) -> None:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert body["message"] and isinstance(body["extra"], dict)


@pytest.mark.parametrize(
    "raw",
    [
        _deep(3000),
        '{"Type": "Notification", "Message": ' + _deep(3000) + "}",
        "[]",
        '"Notification"',
        "null",
        '{"Type": "Notification\\u0000"}',
        "\udcff not utf-8",
    ],
)
def test_junk_posted_to_the_webhook_without_credentials_is_a_json_4xx_and_stores_nothing(client, signer, raw):
    response = client.post(
        WEBHOOK_URL,
        data=raw.encode("utf-8", "surrogateescape"),
        content_type="text/plain; charset=utf-8",
        HTTP_X_AMZ_SNS_MESSAGE_TYPE="Notification",
    )
    assert 400 <= response.status_code < 500
    _assert_json_error(response, response.status_code)
    assert not ProviderNotification.objects.exists()


def test_a_webhook_body_over_the_size_cap_is_refused_unread(client, signer, settings):
    settings.API_MAX_BODY_BYTES = 2000
    message = signer.notification({"eventType": "Delivery", "padding": "x" * 3000})
    response = sns_post(client, message)
    _assert_json_error(response, 413)
    assert not ProviderNotification.objects.exists()


def test_a_forged_message_is_refused_in_the_json_error_format(client, signer):
    message = {**signer.notification(ses_event("Bounce", message_id="m", recipient="a@example.com")), "Signature": "!"}
    _assert_json_error(sns_post(client, message), 403)


def test_a_notification_older_than_an_hour_is_refused_as_a_replay(signer, post, make_sent):
    [delivery] = make_sent()
    event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    old = signer.notification(event, Timestamp=_stamp(timezone.now() - timedelta(minutes=61)))
    response = post(old)
    _assert_json_error(response, 403)
    assert not ProviderNotification.objects.exists()
    delivery.refresh_from_db()
    assert delivery.state == "sent"


def test_a_notification_from_59_minutes_ago_is_still_accepted(signer, post, make_sent):
    [delivery] = make_sent()
    event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    assert post(signer.notification(event, Timestamp=_stamp(timezone.now() - timedelta(minutes=59)))).status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "bounced"


@pytest.mark.parametrize("stamp", ["yesterday", "", "2026-13-40T99:00:00Z"])
def test_a_notification_with_an_unreadable_timestamp_is_refused(signer, post, stamp):
    message = signer.notification({"eventType": "Delivery"}, Timestamp=stamp)
    _assert_json_error(post(message), 403)
    assert not ProviderNotification.objects.exists()


def test_a_notification_dated_far_in_the_future_is_refused(signer, post):
    message = signer.notification({"eventType": "Delivery"}, Timestamp=_stamp(timezone.now() + timedelta(hours=2)))
    _assert_json_error(post(message), 403)


def test_a_stale_subscription_confirmation_is_refused_too(signer, post, settings, httpserver):
    settings.SNS_ENDPOINT_URL = httpserver.url_for("/")
    message = signer.confirmation()
    message = signer.sign({**message, "Timestamp": _stamp(timezone.now() - timedelta(hours=3))})
    _assert_json_error(post(message), 403)
    assert httpserver.log == []


# --- poison isolation ------------------------------------------------------------------------


def _poison(signer, shape: str) -> dict:
    """Signed by SNS, for our topic, and still not an SES event anyone expects."""
    if shape == "mail_is_a_string":
        return signer.notification({"eventType": "Bounce", "mail": "oops", "bounce": {"bounceType": "Permanent"}})
    if shape == "recipients_not_a_list":
        event = ses_event("Bounce", message_id="poison", recipient="p@example.com")
        event["bounce"]["bouncedRecipients"] = 17
        return signer.notification(event)
    if shape == "deep_message":
        return signer.notification({}, Message=_deep(3000))
    raise AssertionError(shape)


@pytest.mark.parametrize("shape", ["mail_is_a_string", "recipients_not_a_list", "deep_message"])
def test_an_oddly_shaped_signed_notification_is_stored_and_answered_without_a_500(signer, post, shape):
    response = post(_poison(signer, shape))
    assert response.status_code == 200
    notification = ProviderNotification.objects.get()
    assert notification.status in ("failed", "ignored")
    assert notification.attempts == 1


def test_a_poison_notification_does_not_stop_the_retries_of_others_and_dies_after_max_attempts(
    signer, post, settings, make_sent, admin_client
):
    settings.FEEDBACK_MAX_ATTEMPTS = 3
    poison = post(_poison(signer, "mail_is_a_string")) and ProviderNotification.objects.get()
    [delivery] = make_sent(provider_message_id="")
    post(signer.notification(ses_event("Bounce", message_id="0100-late", recipient=delivery.recipient)))
    waiting = ProviderNotification.objects.exclude(pk=poison.pk).get()
    assert (poison.status, waiting.status) == ("failed", "retrying")
    delivery.provider_message_id = "0100-late"
    delivery.save(update_fields=["provider_message_id"])

    for attempt in (2, 3):
        an_hour_ago = timezone.now() - timedelta(hours=1)
        ProviderNotification.objects.update(received_at=an_hour_ago, processed_at=an_hour_ago)
        provider_notifications_retry()
        poison.refresh_from_db()
        assert poison.attempts == attempt
    waiting.refresh_from_db()
    assert waiting.status == "processed", "the poison row ran first and still did not block it"
    delivery.refresh_from_db()
    assert delivery.state == "bounced"
    assert poison.status == "dead" and "AttributeError" in poison.error

    ProviderNotification.objects.update(processed_at=timezone.now() - timedelta(days=1))
    assert provider_notifications_retry() == 0, "a dead notification is not retried"
    page = admin_client.get("/admin/analytics/providernotification/", {"status": "dead"})
    assert page.status_code == 200
    assert b"AttributeError" in page.content and poison.message_id.encode() in page.content


def test_a_failed_attempt_rolls_back_everything_it_had_applied(signer, post, make_sent):
    [delivery, other] = make_sent(2)
    event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    event["bounce"]["bouncedRecipients"].append("not-an-object")
    post(signer.notification(event))
    notification = ProviderNotification.objects.get()
    assert notification.status == "failed" and notification.error
    delivery.refresh_from_db()
    assert delivery.state == "sent" and not EngagementEvent.objects.exists()


def test_retries_wait_for_their_backoff(signer, post):
    post(_poison(signer, "mail_is_a_string"))
    assert provider_notifications_retry() == 0, "just attempted: not yet"
    ProviderNotification.objects.update(processed_at=timezone.now() - timedelta(minutes=10))
    assert provider_notifications_retry() == 1


def test_processing_a_dead_notification_again_from_admin_is_possible(signer, post, settings):
    settings.FEEDBACK_MAX_ATTEMPTS = 1
    post(_poison(signer, "mail_is_a_string"))
    notification = ProviderNotification.objects.get()
    assert notification.status == "dead"
    assert provider_notification_process(notification_id=notification.pk, force=True).attempts == 2


def test_the_inner_message_is_parsed_with_the_depth_limit(signer, post):
    post(_poison(signer, "deep_message"))
    notification = ProviderNotification.objects.get()
    assert notification.status == "ignored"
    assert "deep" in json.dumps(notification.result)
