"""`make run`'s experience: on the demo data a pending subscriber who confirms through the link
gets the "Welcome" automation's messages in the local outbox as the beat advances (the clock
drives time). Runs on PostgreSQL and, through test_automations_on_sqlite.py, on the embedded
SQLite default that `make run` uses."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from core.clock import clock as the_clock
from publishing.automation_models import AutomationEnrollment
from publishing.services.automations.advance import automations_advance
from subscribers.links import confirm_url
from subscribers.models import Subscriber

pytestmark = pytest.mark.django_db


def test_a_demo_subscriber_who_confirms_gets_the_welcome_series_in_the_outbox(
    client, outbox, clock, django_capture_on_commit_callbacks
):
    call_command("load_demo_data")
    ada = Subscriber.objects.filter(source="demo", status="pending").order_by("pk").first()
    response = client.post(urlparse(confirm_url(subscriber_id=ada.pk)).path)
    assert response.status_code == 302
    ada.refresh_from_db()
    assert ada.status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        assert automations_advance().sent == 1  # the beat
    assert [m["To"] for m in outbox()] == [ada.email]
    assert outbox()[0]["Subject"].startswith("Welcome to")
    walk = AutomationEnrollment.objects.get(subscriber=ada)
    assert walk.due_at >= the_clock.now() + timedelta(days=2) - timedelta(minutes=1)
    clock.advance(2 * 86400 + 60)
    automations_advance()  # the wait ends; then 09:00 in the subscriber's zone
    walk.refresh_from_db()
    local = walk.due_at.astimezone(ZoneInfo(ada.timezone))
    assert (local.hour, local.minute) == (9, 0) and walk.due_at > the_clock.now()
    assert len(outbox()) == 1
    clock.advance((walk.due_at - the_clock.now()).total_seconds() + 1)
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    assert len(outbox()) == 2 and all(m["To"] == ada.email for m in outbox())
    walk.refresh_from_db()
    assert walk.state == "completed"
