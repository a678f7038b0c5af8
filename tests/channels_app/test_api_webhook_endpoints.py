"""`webhook-endpoints`: admin role, secret write-only (generated once), every bad input a 400."""

from __future__ import annotations

import pytest

from channels_app.event_models import WebhookEndpoint
from core.roles import Role
from tests.emulators.fixtures import WEBHOOK_SECRET

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/webhook-endpoints"
BODY = {"name": "CRM", "url": "https://crm.example.com/hooks", "event_types": ["subscriber.created"]}


def test_an_admin_creates_an_endpoint_and_sees_its_generated_secret_once(client_for):
    admin = client_for(Role.ADMIN)
    response = admin.post(URL, BODY, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["generated_secret"].startswith("whsec_")
    assert "secret" not in created
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == created["generated_secret"]
    shown = admin.get(f"{URL}/{endpoint.pk}").json()
    assert "secret" not in shown and "generated_secret" not in shown
    assert shown["event_types"] == ["subscriber.created"]


def test_a_given_secret_is_stored_encrypted_and_never_returned(client_for):
    admin = client_for(Role.ADMIN)
    response = admin.post(URL, {**BODY, "secret": WEBHOOK_SECRET}, format="json")
    assert response.status_code == 201 and response.json()["generated_secret"] is None
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_app_webhookendpoint")
        [(stored,)] = cursor.fetchall()
    assert WEBHOOK_SECRET not in stored


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.PUBLISHER])
def test_below_admin_the_endpoints_are_closed(client_for, role):
    client = client_for(role)
    assert client.get(URL).status_code == 403
    assert client.post(URL, BODY, format="json").status_code == 403
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_types": ["automation.started"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"url": "ftp://crm.example.com/x"}, "url"),
        ({"secret": "not-a-secret"}, "secret"),
        ({"name": ""}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(client_for, change, field):
    response = client_for(Role.ADMIN).post(URL, {**BODY, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not WebhookEndpoint.objects.exists()


def test_a_private_address_is_refused_when_private_targets_are_not_allowed(client_for, settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    response = client_for(Role.ADMIN).post(URL, {**BODY, "url": "http://169.254.169.254/latest"}, format="json")
    assert response.status_code == 400 and "url" in response.json()["extra"]["fields"]


def test_update_replaces_the_secret_and_delete_removes_the_endpoint(client_for):
    admin = client_for(Role.ADMIN)
    pk = admin.post(URL, BODY, format="json").json()["id"]
    response = admin.patch(f"{URL}/{pk}", {"secret": WEBHOOK_SECRET, "is_active": False}, format="json")
    assert response.status_code == 200, response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == WEBHOOK_SECRET and not endpoint.is_active
    assert admin.patch(f"{URL}/{pk}", {"name": ""}, format="json").status_code == 400
    assert admin.delete(f"{URL}/{pk}").status_code == 204
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_lists_the_endpoints_events(client_for, webhook_receiver):
    from channels_app.event_models import EventType
    from channels_app.services.event_delivery import event_deliveries_send
    from channels_app.services.events import event_emit

    admin = client_for(Role.ADMIN)
    body = {**BODY, "url": webhook_receiver.url("/events"), "event_types": ["send.completed"]}
    pk = admin.post(URL, {**body, "secret": WEBHOOK_SECRET}, format="json").json()["id"]
    event = event_emit(type=EventType.SEND_COMPLETED, data={"send": {"id": 1}})
    event_deliveries_send(endpoint_id=pk)
    [row] = admin.get(f"{URL}/{pk}/deliveries").json()["results"]
    assert (row["event_id"], row["state"], row["last_status"]) == (event.public_id, "delivered", 200)


def test_the_schema_documents_the_endpoints(client_for):
    schema = client_for(Role.VIEWER).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    assert "/api/v1/publishing/webhook-endpoints" in str(schema["paths"].keys())
