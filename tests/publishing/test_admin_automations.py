"""Admin: automations built with a step inline (saved through the services, versions), message
previews, a test run with a simulated clock (POST, CSRF), and who is where."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.test import Client

from channels_app.models import Delivery
from core.roles import Role
from publishing.automation_models import Automation, AutomationEnrollment
from publishing.services.automations.advance import automations_advance
from publishing.services.automations.enroll import automation_enroll
from publishing.services.transactional import message_template_create
from tests.factories import ChannelFactory, SubscriberFactory

pytestmark = pytest.mark.django_db
STEPS = "steps"


def _form(template, **overrides):
    form = {
        "name": "Welcome",
        "description": "",
        "trigger": "confirmed",
        "trigger_config": "{}",
        "is_active": "on",
        f"{STEPS}-TOTAL_FORMS": "3",
        f"{STEPS}-INITIAL_FORMS": "0",
        f"{STEPS}-0-position": "0",
        f"{STEPS}-0-kind": "send",
        f"{STEPS}-0-template": str(template.pk),
        f"{STEPS}-1-position": "1",
        f"{STEPS}-1-kind": "wait",
        f"{STEPS}-1-wait": "1 00:00:00",
        f"{STEPS}-2-position": "2",
        f"{STEPS}-2-kind": "wait_until",
        f"{STEPS}-2-local_time": "09:00",
    }
    form.update(overrides)
    return form


@pytest.fixture
def template(db):
    channel = ChannelFactory(name="Outbox email", kind="email", config={"esp": "outbox", "from_email": "n@example.com"})
    return message_template_create(
        actor=None, name="welcome", channel=channel, subject="Welcome {{ subscriber.first_name }}",
        body="Hi {{ subscriber.name }}, see https://example.com/start",
    )  # fmt: skip


def test_an_automation_built_in_admin_is_saved_through_the_services_as_a_version(admin_client, template):
    response = admin_client.post("/admin/publishing/automation/add/", _form(template))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    automation = Automation.objects.get()
    assert automation.current_version.number == 1
    assert [s["kind"] for s in automation.current_version.steps] == ["send", "wait", "wait_until"]
    assert automation.current_version.steps[2]["local_time"] == "09:00"


def test_a_step_missing_its_setting_is_a_form_error_and_nothing_is_saved(admin_client, template):
    response = admin_client.post("/admin/publishing/automation/add/", _form(template, **{f"{STEPS}-1-wait": ""}))
    assert response.status_code == 200
    assert "steps[1].wait" in str(response.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert not Automation.objects.exists()


def test_previews_show_each_message_step_on_its_channel(admin_client, template):
    admin_client.post("/admin/publishing/automation/add/", _form(template))
    automation = Automation.objects.get()
    ada = SubscriberFactory(name="Ada Lovelace")
    page = admin_client.get(f"/admin/publishing/automation/{automation.pk}/preview/?subscriber={ada.pk}")
    assert page.status_code == 200
    content = page.content.decode()
    assert "Welcome Ada" in content and "Outbox email" in content and "Hi Ada Lovelace" in content


def test_a_test_run_shows_what_would_be_sent_when_without_sending(admin_client, make_user, template):
    admin_client.post("/admin/publishing/automation/add/", _form(template))
    automation = Automation.objects.get()
    tokyo = SubscriberFactory(name="Ken Sato", timezone="Asia/Tokyo")
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_user(Role.ADMIN, is_staff=True))
    url = f"/admin/publishing/automation/{automation.pk}/test-run/"
    assert csrf_client.post(url, {"subscriber": tokyo.pk}).status_code == 403  # no CSRF token
    response = admin_client.post(
        f"/admin/publishing/automation/{automation.pk}/test-run/",
        {"subscriber": tokyo.pk, "start": "2026-03-01 12:00"},
    )
    assert response.status_code == 200
    timeline = response.context["timeline"]
    assert [(t.kind, t.at) for t in timeline] == [
        ("send", datetime(2026, 3, 1, 12, 0, tzinfo=UTC)),
        ("wait", datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
        ("wait_until", datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),  # 09:00 in Tokyo
        ("end", datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
    ]
    assert timeline[0].subject == "Welcome Ken"
    assert not AutomationEnrollment.objects.exists() and not Delivery.objects.exists()


def test_who_is_where_counts_per_step_and_lists_them(admin_client, template):
    admin_client.post("/admin/publishing/automation/add/", _form(template))
    automation = Automation.objects.get()
    people = [SubscriberFactory() for _ in range(3)]
    for person in people:
        automation_enroll(actor=None, automation=automation, subscriber=person)
    automations_advance()
    page = admin_client.get(f"/admin/publishing/automation/{automation.pk}/where/?position=2")
    assert page.status_code == 200
    stats = {row["position"]: row for row in page.context["stats"]}
    assert stats[0]["entered"] == 3 and stats[0]["sent"] == 3 and stats[2]["here"] == 3
    assert {row.subscriber_id for row in page.context["page"]} == {p.pk for p in people}


def test_viewers_cannot_test_run(client, make_user, template):
    admin_client = Client()
    admin_client.force_login(make_user(Role.ADMIN, is_staff=True))
    admin_client.post("/admin/publishing/automation/add/", _form(template))
    automation = Automation.objects.get()
    client.force_login(make_user(Role.VIEWER, is_staff=True))
    url = f"/admin/publishing/automation/{automation.pk}/test-run/"
    response = client.post(url, {"subscriber": SubscriberFactory().pk})
    assert response.status_code == 403
