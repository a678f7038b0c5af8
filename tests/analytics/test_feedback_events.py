"""SES bounces and complaints become delivery.bounced / delivery.complained events, once."""

from __future__ import annotations

import pytest

from channels_app.event_models import EventType, OutboundEvent
from channels_app.services.events import webhook_endpoint_create
from tests.emulators.fixtures import WEBHOOK_SECRET
from tests.factories.analytics import ses_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint(webhook_receiver):
    types = [EventType.DELIVERY_BOUNCED, EventType.DELIVERY_COMPLAINED]
    return webhook_endpoint_create(
        actor=None, name="crm", url=webhook_receiver.url("/events"), event_types=types, secret=WEBHOOK_SECRET
    )


def test_a_hard_bounce_is_one_delivery_bounced_event_even_when_sns_repeats_it(endpoint, make_sent, signer, post):
    [delivery] = make_sent()
    notification = signer.notification(
        ses_event("Bounce", message_id=delivery.provider_message_id, recipient=delivery.recipient)
    )
    post(notification)
    post(notification)
    [event] = OutboundEvent.objects.all()
    assert event.type == "delivery.bounced" and event.subscriber_id == delivery.subscriber_id
    data = event.payload["data"]
    assert data["delivery"]["id"] == delivery.pk and data["bounce_type"] == "hard"
    assert data["email"] == delivery.recipient


def test_a_complaint_is_a_delivery_complained_event(endpoint, make_sent, signer, post):
    [delivery] = make_sent()
    post(
        signer.notification(
            ses_event("Complaint", message_id=delivery.provider_message_id, recipient=delivery.recipient)
        )
    )
    assert list(OutboundEvent.objects.values_list("type", flat=True)) == ["delivery.complained"]
