"""Failover and routing across ESPs, through the real pipeline, against two emulators speaking
their providers' APIs (Amazon SES v2 and Postmark), with real PostgreSQL and Redis."""

from __future__ import annotations

from collections import Counter

import pytest
from django.test import Client

from channels_app.models import Channel, Delivery, Send
from channels_app.services.pipeline import delivery_batch_send
from channels_app.services.sends import send_create
from publishing.services.fanout import send_start
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.emulators.esp_events import webhook_post
from tests.factories import ChannelFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
HOOK_SECRET = "bulletin:hook-s3cret"


@pytest.fixture
def ses(ses_emulator):
    return ChannelFactory(
        name="SES",
        kind="email",
        is_default=True,
        rate_limit_per_second=1000,
        config={
            "esp": "amazon_ses",
            "from_email": "News <news@example.com>",
            "endpoint_url": ses_emulator.endpoint_url,
            "region": "us-east-1",
            "list_id": "lists.example.com",
        },
        credentials={"aws_access_key_id": "AKIATEST", "aws_secret_access_key": "x"},
    )


@pytest.fixture
def postmark(postmark_emulator):
    config, credentials = postmark_emulator.channel_settings()
    return ChannelFactory(
        name="Postmark",
        kind="email",
        is_default=False,
        rate_limit_per_second=1000,
        config={**config, "list_id": "lists.example.com"},
        credentials={**credentials, "webhook_secret": HOOK_SECRET},
    )


def _readers(topic, domains: dict[str, int]) -> list[str]:
    emails = []
    for domain, count in domains.items():
        for n in range(count):
            reader = SubscriberFactory(email=f"reader{n}@{domain}")
            SubscriptionFactory(subscriber=reader, topic=topic, frequency="instant", channel_kind="email")
            emails.append(reader.email)
    return emails


def _send(topic, capture, key="failover-1") -> Send:
    audience = {"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["email"]}
    send, _ = send_create(key=key, kind=Send.Kind.ALERT, subject="Hello", content=EMAIL_CONTENT, audience=audience)
    with capture(execute=True):
        send_start(send=send)
    return send


def _finish(send: Send, channel: Channel, clock, rounds: int = 5, step: float = 3.0) -> None:
    """What the sweeper does on its runs, `step` seconds apart (15 s in all, well within every
    cooldown): the queued deliveries are offered again; those that are due are sent."""
    for _ in range(rounds):
        clock.advance(step)
        ids = list(Delivery.objects.filter(send=send, state=Delivery.State.QUEUED).values_list("pk", flat=True))
        if ids:
            delivery_batch_send(channel_id=channel.pk, delivery_ids=ids)


def _recipients_of(ses_emulator) -> Counter:
    return Counter(address.lower() for m in ses_emulator.messages() for address in m["to"])


@pytest.mark.parametrize(
    "fault",
    [
        {"code": "SendingPausedException", "message": "Sending is paused for this account."},
        {"status": 503, "message": "Service Unavailable"},
    ],
    ids=["account-paused", "503s"],
)
def test_a_primary_failing_mid_send_finishes_on_the_next_provider_nothing_lost_nothing_twice(
    ses, postmark, ses_emulator, postmark_emulator, topic, settings, django_capture_on_commit_callbacks, fault, clock
):
    """The calls in flight when SES failed are recorded as retries, and the rest of the batch is
    due again at once (not after SES's cooldown) and goes through Postmark."""
    settings.DELIVERY_BATCH_SIZE = 600
    settings.CIRCUIT_FAILURE_THRESHOLD = 2
    settings.DELIVERY_RETRY_BASE_SECONDS = 0.1
    Channel.objects.filter(pk=ses.pk).update(fallbacks=[postmark.pk])
    # 12 SES calls of 50: more than the 8 the adapter keeps in flight, so some are still queued
    # in the batch when SES starts failing.
    emails = _readers(topic, {"example.com": 600})
    # SES accepts the first bulk call (50 recipients), then fails every call.
    ses_emulator.configure(fail_next={"after": 1, "count": 1000, **fault})

    send = _send(topic, django_capture_on_commit_callbacks)
    _finish(send, ses, clock)

    deliveries = Delivery.objects.filter(send=send)
    assert Counter(deliveries.values_list("state", flat=True)) == {"sent": 600}, "nothing lost"
    on_ses, on_postmark = _recipients_of(ses_emulator), Counter(m["to"] for m in postmark_emulator.messages())
    assert sum(on_ses.values()) == 50 and sum(on_postmark.values()) == 550
    assert on_ses + on_postmark == Counter(e.lower() for e in emails), "every reader exactly once, across both"
    assert deliveries.filter(sent_via=postmark).count() == 550
    assert deliveries.filter(sent_via=None).count() == 50
    via_postmark = set(deliveries.filter(sent_via=postmark).values_list("provider_message_id", flat=True))
    assert via_postmark == {m["message_id"] for m in postmark_emulator.messages()}
    ses.refresh_from_db()
    assert ses.circuit_state == "open"
    # In flight when SES failed: at most the adapter's 8 calls (each answered with the error).
    assert sum(ses_emulator.stats()["requests"].values()) <= 1 + 8 * (3 if fault.get("status") == 503 else 1)
    assert set(deliveries.values_list("channel", flat=True)) == {ses.pk}, "deliveries stay on their channel"


def test_the_chain_is_walked_in_order_past_a_provider_whose_circuit_is_open(
    ses, postmark, ses_emulator, postmark_emulator, topic, settings, django_capture_on_commit_callbacks
):
    """SES → Postmark (paused as well) → Postmark backup: the third carries the send."""
    from channels_app.circuit import circuit_record_failure

    backup = ChannelFactory(
        name="Postmark backup",
        kind="email",
        is_default=False,
        rate_limit_per_second=1000,
        config={**postmark.config},
        credentials=dict(postmark.credentials),
    )
    Channel.objects.filter(pk=ses.pk).update(fallbacks=[postmark.pk, backup.pk])
    circuit_record_failure(ses, reason="SES paused", paused=True)
    circuit_record_failure(postmark, reason="Postmark paused", paused=True)
    _readers(topic, {"example.com": 3})

    send = _send(topic, django_capture_on_commit_callbacks)

    deliveries = Delivery.objects.filter(send=send)
    assert list(deliveries.values_list("state", flat=True).distinct()) == ["sent"]
    assert set(deliveries.values_list("sent_via", flat=True)) == {backup.pk}
    assert ses_emulator.messages() == [] and len(postmark_emulator.messages()) == 3


def test_with_every_provider_of_the_chain_open_the_deliveries_wait_and_nothing_is_sent(
    ses, postmark, ses_emulator, postmark_emulator, topic, django_capture_on_commit_callbacks
):
    from channels_app.circuit import circuit_record_failure

    Channel.objects.filter(pk=ses.pk).update(fallbacks=[postmark.pk])
    circuit_record_failure(ses, reason="SES paused", paused=True)
    circuit_record_failure(postmark, reason="Postmark paused", paused=True)
    _readers(topic, {"example.com": 2})

    send = _send(topic, django_capture_on_commit_callbacks)

    deliveries = Delivery.objects.filter(send=send)
    assert list(deliveries.values_list("state", flat=True).distinct()) == ["queued"]
    assert all("circuit open: SES paused" in e for e in deliveries.values_list("last_error", flat=True))
    assert ses_emulator.messages() == [] and postmark_emulator.messages() == []


def test_domain_routing_sends_gmail_through_postmark_and_the_rest_through_ses(
    ses, postmark, ses_emulator, postmark_emulator, topic, django_capture_on_commit_callbacks
):
    Channel.objects.filter(pk=ses.pk).update(routes=[{"domain": "gmail.com", "channel": postmark.pk}])
    gmail = _readers(topic, {"gmail.com": 4})
    others = _readers(topic, {"example.com": 3, "gmail.co.uk": 1, "mail.gmail.com": 1})

    send = _send(topic, django_capture_on_commit_callbacks)

    assert sorted(m["to"] for m in postmark_emulator.messages()) == sorted(gmail)
    assert sorted(_recipients_of(ses_emulator)) == sorted(e.lower() for e in others)
    deliveries = Delivery.objects.filter(send=send)
    assert list(deliveries.values_list("state", flat=True).distinct()) == ["sent"]
    assert sorted(deliveries.filter(sent_via=postmark).values_list("recipient", flat=True)) == sorted(gmail)
    assert deliveries.filter(sent_via=None).count() == len(others)


def test_a_routed_group_whose_channel_is_open_goes_to_that_channels_fallbacks_the_rest_is_untouched(
    ses, postmark, ses_emulator, postmark_emulator, topic, django_capture_on_commit_callbacks
):
    """gmail.com → Postmark, whose circuit is open and whose fallback is SES: the gmail group
    goes through SES (its route's chain); the rest was going through SES anyway."""
    from channels_app.circuit import circuit_record_failure

    Channel.objects.filter(pk=postmark.pk).update(fallbacks=[ses.pk])
    Channel.objects.filter(pk=ses.pk).update(routes=[{"domain": "gmail.com", "channel": postmark.pk}])
    circuit_record_failure(postmark, reason="Postmark paused", paused=True)
    _readers(topic, {"gmail.com": 2, "example.com": 2})

    send = _send(topic, django_capture_on_commit_callbacks)

    assert postmark_emulator.messages() == []
    assert len(_recipients_of(ses_emulator)) == 4
    assert set(Delivery.objects.filter(send=send).values_list("sent_via", flat=True)) == {None}


def test_a_route_to_a_channel_disabled_since_sends_through_the_channel_itself(
    ses, postmark, ses_emulator, postmark_emulator, topic, django_capture_on_commit_callbacks
):
    Channel.objects.filter(pk=ses.pk).update(routes=[{"domain": "gmail.com", "channel": postmark.pk}])
    Channel.objects.filter(pk=postmark.pk).update(is_active=False, disabled_reason="token revoked")
    _readers(topic, {"gmail.com": 2})

    send = _send(topic, django_capture_on_commit_callbacks)

    assert postmark_emulator.messages() == [] and len(_recipients_of(ses_emulator)) == 2
    assert list(Delivery.objects.filter(send=send).values_list("state", flat=True).distinct()) == ["sent"]


def test_feedback_from_the_provider_that_carried_a_routed_delivery_lands_on_that_delivery(
    ses, postmark, ses_emulator, postmark_emulator, topic, django_capture_on_commit_callbacks
):
    """The delivery belongs to the SES channel; Postmark carried it and posts its bounce to the
    Postmark channel's webhook: found by provider message id, across channels."""
    Channel.objects.filter(pk=ses.pk).update(routes=[{"domain": "gmail.com", "channel": postmark.pk}])
    [address] = _readers(topic, {"gmail.com": 1})
    send = _send(topic, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(send=send)
    assert (delivery.channel_id, delivery.sent_via_id, delivery.state) == (ses.pk, postmark.pk, "sent")

    [message] = postmark_emulator.messages(to=address)
    post = webhook_post("postmark", "hard_bounce", message, secret=HOOK_SECRET)
    with django_capture_on_commit_callbacks(execute=True):
        response = Client(enforce_csrf_checks=True).post(
            f"/anymail/postmark/tracking/{postmark.pk}/", post.body, content_type="application/json", **post.headers
        )
    assert response.status_code == 200, response.content
    delivery.refresh_from_db()
    assert delivery.state == "bounced"
    assert delivery.subscriber.status == "bounced"


def test_ses_feedback_lands_on_the_delivery_ses_carried_for_a_postmark_channel_in_failover(
    ses,
    postmark,
    ses_emulator,
    postmark_emulator,
    topic,
    settings,
    tmp_path,
    client,
    django_capture_on_commit_callbacks,
):
    """The other direction: a Postmark channel whose circuit is open fails over to SES; SES's
    bounce (through SNS) finds the delivery by SES's message id and bounces it."""
    from channels_app.circuit import circuit_record_failure
    from tests.analytics.sns_signing import TOPIC_ARN, SnsSigner, sns_post
    from tests.factories.analytics import ses_event

    signer = SnsSigner(tmp_path)
    settings.SNS_CERTIFICATE_FILE, settings.SNS_TOPIC_ARNS = str(signer.cert_file), [TOPIC_ARN]
    Channel.objects.filter(pk=ses.pk).update(is_default=False)
    Channel.objects.filter(pk=postmark.pk).update(is_default=True, fallbacks=[ses.pk])
    circuit_record_failure(postmark, reason="Postmark down", paused=True)
    [address] = _readers(topic, {"example.com": 1})
    send = _send(topic, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(send=send)
    assert (delivery.channel_id, delivery.sent_via_id, delivery.state) == (postmark.pk, ses.pk, "sent")
    assert postmark_emulator.messages() == [] and len(ses_emulator.messages()) == 1

    event = ses_event("Bounce", message_id=delivery.provider_message_id, recipient=address)
    with django_capture_on_commit_callbacks(execute=True):
        response = sns_post(client, signer.notification(event))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.state == "bounced"
