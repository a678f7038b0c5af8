"""The welcome series through a REAL worker: the beat's task runs the first step in the worker,
the pipeline sends through the broker; later steps are due by the test's clock (core.clock),
their deliveries go to the same worker. Unsubscribing midway stops the series."""

from __future__ import annotations

from datetime import timedelta

import pytest

from channels_app.models import Delivery
from publishing.automation_models import AutomationEnrollment
from publishing.services.automations.advance import automations_advance
from publishing.services.automations.definitions import automation_create
from publishing.services.transactional import message_template_create
from publishing.tasks import automations_advance_task
from subscribers.services.consent import ConsentContext
from subscribers.services.subscribe import subscriber_activate
from subscribers.services.unsubscribe import subscriber_unsubscribe
from tests.factories import ChannelFactory, PendingSubscriberFactory
from tests.worker import celery_worker, real_broker, require_real_services, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _welcome():
    channel = ChannelFactory(kind="email", is_default=True, config={"esp": "outbox", "from_email": "n@example.com"})
    first = message_template_create(actor=None, name="w1", channel=channel, subject="Welcome", body="Hello")
    second = message_template_create(actor=None, name="w2", channel=channel, subject="Day two", body="Again")
    third = message_template_create(actor=None, name="w3", channel=channel, subject="Day four", body="Last")
    automation_create(
        actor=None, name="Welcome", trigger="confirmed", is_active=True,
        steps=[
            {"kind": "send", "template": first}, {"kind": "wait", "wait": timedelta(days=2)},
            {"kind": "send", "template": second}, {"kind": "wait", "wait": timedelta(days=2)},
            {"kind": "send", "template": third},
        ],
    )  # fmt: skip


def _subjects(var):
    import email
    from email import policy

    files = sorted((var / "outbox").glob("*.eml"), key=lambda f: f.stat().st_mtime)
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default)["Subject"] for f in files]


def test_the_welcome_series_goes_out_through_a_worker_and_stops_on_unsubscribe(clock, tmp_path):
    require_real_services()
    _welcome()
    ada = PendingSubscriberFactory(email="ada@example.com", timezone="Europe/Paris")
    subscriber_activate(subscriber=ada, context=ConsentContext(method="form"), action="confirmed", wording="yes")
    var = tmp_path / "var"
    with real_broker(), celery_worker(name="auto", queues="default", BULLETIN_VAR_DIR=str(var)):
        automations_advance_task.delay()  # the beat's task, in the worker
        wait_for(lambda: _subjects(var) == ["Welcome"], timeout=60, what="the welcome email")
        clock.advance(2 * 86400 + 60)
        automations_advance()  # the next beat, two days later by the clock
        wait_for(lambda: _subjects(var) == ["Welcome", "Day two"], timeout=60, what="the day-two email")
        subscriber_unsubscribe(subscriber=ada, context=ConsentContext(method="link"))
        clock.advance(2 * 86400 + 60)
        assert automations_advance().claimed == 0
    assert _subjects(var) == ["Welcome", "Day two"]
    assert AutomationEnrollment.objects.get().state == "exited"
    assert Delivery.objects.filter(state="sent").count() == 2
