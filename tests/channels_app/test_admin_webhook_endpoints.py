"""Admin: endpoints saved through the services (secret generated, shown once), the delivery log
and its replay action (a POST with CSRF, admin role)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from channels_app.event_models import EventDelivery, EventType, WebhookEndpoint
from channels_app.services.event_delivery import event_deliveries_send
from channels_app.services.events import event_emit, webhook_endpoint_create
from core.roles import Role
from tests.emulators.fixtures import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db


def test_adding_an_endpoint_in_admin_generates_a_secret_shown_once(admin_client):
    response = admin_client.post(
        "/admin/channels_app/webhookendpoint/add/",
        {"name": "CRM", "url": "https://crm.example.com/h", "event_types": ["subscriber.created"], "is_active": "on"},
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert any(endpoint.secret in m for m in shown)
    change = f"/admin/channels_app/webhookendpoint/{endpoint.pk}/change/"
    assert endpoint.secret in admin_client.get(change).content.decode()  # the message, this once
    assert endpoint.secret not in admin_client.get(change).content.decode()


def test_a_bad_endpoint_is_a_form_error(admin_client):
    response = admin_client.post(
        "/admin/channels_app/webhookendpoint/add/", {"name": "CRM", "url": "ftp://x.example.com", "event_types": []}
    )
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert response.context["adminform"].form.errors


def test_replay_in_admin_sends_a_delivered_event_again(client, make_user, webhook_receiver):
    endpoint = webhook_endpoint_create(
        actor=None, name="crm", url=webhook_receiver.url("/e"), event_types=[EventType.SEND_COMPLETED],
        secret=WEBHOOK_SECRET,
    )  # fmt: skip
    event_emit(type=EventType.SEND_COMPLETED, data={"send": {"id": 3}})
    event_deliveries_send(endpoint_id=endpoint.pk)
    delivery = EventDelivery.objects.get()
    admin = make_user(Role.ADMIN, is_staff=True)
    client.force_login(admin)
    page = client.get(f"/admin/channels_app/eventdelivery/{delivery.pk}/change/").content.decode()
    assert "200" in page and "send.completed" in page  # the log and the body
    response = client.post(
        "/admin/channels_app/eventdelivery/", {"action": "replay", "_selected_action": [delivery.pk]}
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == EventDelivery.State.PENDING
    event_deliveries_send(endpoint_id=endpoint.pk)
    assert len(webhook_receiver.messages()) == 2
