from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.services.tracking import send_links_cache_clear
from channels_app.models import Channel, Delivery, Send
from tests.analytics.sns_signing import TOPIC_ARN, SnsSigner, sns_post
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory

LINKS = ["https://example.com/article?a=1&b=2", "https://example.com/second", "javascript:alert(1)"]


@pytest.fixture(autouse=True)
def _fresh_links_cache():
    send_links_cache_clear()
    yield
    send_links_cache_clear()


@pytest.fixture
def email_channel(db):
    return ChannelFactory(name="Email", kind="email")


@pytest.fixture
def make_sent(email_channel):
    """Deliveries handed to the provider an hour ago (state sent, a provider message id)."""

    def _make(count: int = 1, *, send: Send | None = None, channel: Channel | None = None, **kwargs) -> list[Delivery]:
        send = send or SendFactory(status=Send.Status.SENDING, content={"links": LINKS})
        kwargs.setdefault("sent_at", timezone.now() - timedelta(hours=1))
        kwargs.setdefault("state", Delivery.State.SENT)
        message_id = kwargs.pop("provider_message_id", None)
        return [
            DeliveryFactory(
                send=send,
                channel=channel or email_channel,
                provider_message_id=f"0100-{send.pk}-{i}-{timezone.now().timestamp()}"
                if message_id is None
                else message_id,
                **kwargs,
            )
            for i in range(count)
        ]

    return _make


@pytest.fixture
def signer(settings, tmp_path):
    """Signs SNS messages with a certificate of the test's own, trusted through SNS_CERTIFICATE_FILE."""
    signer = SnsSigner(tmp_path)
    settings.SNS_CERTIFICATE_FILE = str(signer.cert_file)
    settings.SNS_TOPIC_ARNS = [TOPIC_ARN]
    return signer


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """POST like SNS and run the enqueued processing task (eager) at commit."""

    def _post(message: dict, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return sns_post(client, message, **kwargs)

    return _post
