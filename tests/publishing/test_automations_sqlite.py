"""On the embedded SQLite default automations are kept but do not run: confirming a subscriber
while an active automation listens must still work (runs where DATABASE_URL is not PostgreSQL)."""

from __future__ import annotations

import pytest
from django.db import connection

from publishing.services.automations.advance import automations_advance
from publishing.services.automations.definitions import automation_create
from publishing.services.automations.enroll import automations_scan_triggers
from publishing.services.transactional import message_template_create
from subscribers.services.consent import ConsentContext
from subscribers.services.subscribe import subscriber_activate
from tests.factories import ChannelFactory, PendingSubscriberFactory

pytestmark = pytest.mark.django_db


def test_confirming_works_on_sqlite_and_automations_stay_idle():
    if connection.vendor == "postgresql":
        pytest.skip("the SQLite default only")
    template = message_template_create(actor=None, name="w", channel=ChannelFactory(), subject="Hi", body="Hello")
    automation_create(
        actor=None, name="Welcome", trigger="confirmed", is_active=True, steps=[{"kind": "send", "template": template}]
    )
    ada = PendingSubscriberFactory()
    subscriber_activate(subscriber=ada, context=ConsentContext(method="form"), action="confirmed", wording="yes")
    ada.refresh_from_db()
    assert ada.status == "active"
    assert automations_advance().claimed == 0 and automations_scan_triggers() == 0
