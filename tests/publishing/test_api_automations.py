"""`automations` CRUD, `automations/{id}/enroll` and `events` under /api/v1/publishing/."""

from __future__ import annotations

import pytest

from core.roles import Role
from publishing.automation_models import Automation, AutomationEnrollment
from publishing.services.transactional import message_template_create
from tests.factories import ChannelFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/publishing"


@pytest.fixture
def template(db):
    return message_template_create(actor=None, name="welcome", channel=ChannelFactory(), subject="Hi", body="Hello")


def _create(client, **overrides):
    body = {
        "name": "Welcome",
        "trigger": "custom_event",
        "trigger_config": {"event": "signed.up"},
        "is_active": True,
        "steps": [{"kind": "send", "template": "welcome"}, {"kind": "wait", "wait": "1 00:00:00"}],
        **overrides,
    }
    return client.post(f"{BASE}/automations", body, format="json")


def test_an_editor_creates_edits_and_lists_automations_with_versions(client_for, template):
    client = client_for(Role.EDITOR)
    response = _create(client)
    assert response.status_code == 201, response.json()
    automation_id = response.json()["id"]
    assert response.json()["version"] == 1 and len(response.json()["steps"]) == 2
    response = client.patch(f"{BASE}/automations/{automation_id}", {"steps": [{"kind": "exit"}]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2 and response.json()["steps"][0]["kind"] == "exit"
    assert [a["name"] for a in client.get(f"{BASE}/automations").json()["results"]] == ["Welcome"]


def test_bad_automations_are_json_field_errors_and_write_nothing(client_for, template):
    client = client_for(Role.EDITOR)
    response = _create(client, trigger="nope", steps=[{"kind": "send"}, {"kind": "wait", "wait": "x"}])
    assert response.status_code == 400
    assert "fields" in response.json()["extra"]
    response = _create(client, steps=[{"kind": "send"}])
    assert response.status_code == 400 and "steps[0].template" in response.json()["extra"]["fields"]
    response = _create(client, steps=[{"kind": "branch_engaged", "engagement": "opened", "if_true": 9}])
    assert response.status_code == 400 and "steps[0].if_true" in response.json()["extra"]["fields"]
    assert not Automation.objects.exists()


def test_viewers_cannot_create_automations(client_for, template):
    assert _create(client_for(Role.VIEWER)).status_code == 403
    assert not Automation.objects.exists()


def test_enroll_and_custom_events_enter_once(client_for, template):
    client = client_for(Role.EDITOR)
    automation_id = _create(client).json()["id"]
    ada, bob = SubscriberFactory(), SubscriberFactory()
    response = client.post(f"{BASE}/automations/{automation_id}/enroll", {"subscriber": ada.pk}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == "active" and response.json()["position"] == 0
    again = client.post(f"{BASE}/automations/{automation_id}/enroll", {"subscriber": ada.pk}, format="json")
    assert again.status_code == 409
    response = client.post(
        f"{BASE}/events", {"subscriber": bob.pk, "name": "signed.up", "data": {"a": 1}}, format="json"
    )
    assert response.status_code == 202 and response.json() == {"entered": 1}
    assert AutomationEnrollment.objects.get(subscriber=bob).data == {"a": 1}
    stats = client_for(Role.VIEWER).get(f"{BASE}/automations/{automation_id}/stats").json()
    assert [(row["position"], row["entered"], row["here"]) for row in stats] == [(0, 2, 2)]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"subscriber": "x", "name": "a"},
        {"subscriber": 1, "name": "a", "data": [1]},
        {"subscriber": 999999, "name": "a"},
    ],
)
def test_bad_events_are_400_with_field_errors(client_for, body):
    response = client_for(Role.EDITOR).post(f"{BASE}/events", body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["extra"]["fields"]


def test_the_schema_documents_automations_enroll_and_events(client_for):
    schema = client_for(Role.VIEWER).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert any(p.endswith("/automations/{id}/enroll") or "enroll" in p for p in paths)
    assert any(p.rstrip("/").endswith("/events") for p in paths)


def test_quiet_hours_are_set_through_the_api_and_half_a_window_is_a_field_error(client_for, template):
    client = client_for(Role.EDITOR)
    response = _create(client, quiet_hours_start="21:00")
    assert response.status_code == 400 and "quiet_hours_end" in response.json()["extra"]["fields"]
    assert not Automation.objects.exists()
    response = _create(client, quiet_hours_start="21:00", quiet_hours_end="08:00")
    assert response.status_code == 201, response.json()
    assert (response.json()["quiet_hours_start"], response.json()["quiet_hours_end"]) == ("21:00:00", "08:00:00")
    automation_id = response.json()["id"]
    response = client.patch(f"{BASE}/automations/{automation_id}", {"quiet_hours_end": "21:00"}, format="json")
    assert response.status_code == 400 and "quiet_hours_end" in response.json()["extra"]["fields"]
    assert str(Automation.objects.get().quiet_hours_end) == "08:00:00"
