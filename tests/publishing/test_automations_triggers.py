"""Automation triggers (topic joined, field changed), the opened/clicked branch with its stats,
and leaving on suppression and erasure."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from analytics.models import EngagementEvent
from channels_app.models import Delivery
from core.roles import Role
from publishing.automation_models import AutomationEnrollment
from publishing.services.automations.advance import automations_advance
from publishing.services.automations.definitions import automation_create
from publishing.services.automations.enroll import automation_enroll
from publishing.services.automations.stats import automation_step_stats
from publishing.services.transactional import message_template_create
from subscribers.models import Subscription
from subscribers.services.consent import ConsentContext
from subscribers.services.gdpr import subscriber_erase
from subscribers.services.preferences import subscriber_preferences_update
from subscribers.services.subscribe import subscriber_subscribe
from subscribers.services.suppression import suppression_add
from tests.factories import ChannelFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(db):
    channel = ChannelFactory(kind="email", is_default=True, config={"esp": "outbox", "from_email": "n@example.com"})
    return message_template_create(actor=None, name="hello", channel=channel, subject="Hi", body="Hello")


def _automation(template, trigger, config, steps=None):
    return automation_create(
        actor=None, name=f"{trigger} {config}", trigger=trigger, trigger_config=config, is_active=True,
        steps=steps or [{"kind": "send", "template": template}],
    )  # fmt: skip


def test_joining_a_topic_enters_the_automation_of_that_topic_only(template, make_user):
    news, other = TopicFactory(slug="news"), TopicFactory(slug="other")
    automation = _automation(template, "topic_joined", {"topic": "news"})
    ada = SubscriberFactory(email="ada@example.com")
    context = ConsentContext(method="api", actor=make_user(Role.PUBLISHER))
    subscriber_subscribe(email=ada.email, context=context, topics=[other])
    assert not AutomationEnrollment.objects.exists()
    subscriber_subscribe(email=ada.email, context=context, topics=[news])
    assert AutomationEnrollment.objects.get().automation == automation


def test_a_changed_custom_field_enters_the_automation_watching_it(template, make_user):
    automation = _automation(template, "field_changed", {"field": "plan"})
    ada = SubscriberFactory(attributes={"plan": "free"})
    context = ConsentContext(method="api", actor=make_user(Role.PUBLISHER))
    subscriber_preferences_update(subscriber=ada, context=context, changes={"name": "Ada L."})
    assert not AutomationEnrollment.objects.exists()
    subscriber_preferences_update(subscriber=ada, context=context, changes={"attributes": {"plan": "pro"}})
    assert AutomationEnrollment.objects.get().automation == automation


def test_a_branch_right_after_a_message_finds_it_unopened(template):
    topic = TopicFactory(slug="vip")
    automation = _automation(
        template, "manual", {},
        steps=[
            {"kind": "send", "template": template},
            {"kind": "branch_engaged", "engagement": "opened", "if_false": 3},
            {"kind": "topic_add", "topic": topic},
            {"kind": "exit"},
        ],
    )  # fmt: skip
    reader, ignorer = SubscriberFactory(), SubscriberFactory()
    for person in (reader, ignorer):
        automation_enroll(actor=None, automation=automation, subscriber=person)
    automations_advance(batch=1)
    assert Delivery.objects.count() == 2
    # The branch ran in the same beat as the message (no wait between): nobody had opened it yet.
    assert not Subscription.objects.filter(topic=topic).exists()
    assert set(AutomationEnrollment.objects.values_list("state", flat=True)) == {"completed"}


def test_opens_of_a_step_message_send_the_opener_down_the_true_branch(template):
    topic = TopicFactory(slug="vip")
    automation = _automation(
        template, "manual", {},
        steps=[
            {"kind": "send", "template": template},
            {"kind": "wait", "wait": timedelta(hours=1)},
            {"kind": "branch_engaged", "engagement": "opened", "if_false": 4},
            {"kind": "topic_add", "topic": topic},
            {"kind": "exit"},
        ],
    )  # fmt: skip
    reader, ignorer = SubscriberFactory(), SubscriberFactory()
    for person in (reader, ignorer):
        automation_enroll(actor=None, automation=automation, subscriber=person)
    automations_advance()
    delivery = Delivery.objects.get(subscriber=reader)
    EngagementEvent.objects.create(delivery=delivery, kind="open", occurred_at=delivery.created_at)
    from core.clock import clock

    try:
        clock.advance(3601)
        automations_advance()
    finally:
        clock.reset()
    assert list(Subscription.objects.filter(topic=topic).values_list("subscriber_id", flat=True)) == [reader.pk]
    first = next(row for row in automation_step_stats(automation=automation) if row["position"] == 0)
    assert (first["entered"], first["sent"], first["opened"], first["clicked"]) == (2, 2, 1, 0)


@pytest.mark.parametrize("reason", ["hard_bounce", "complaint", "manual"])
def test_a_suppressed_subscriber_leaves_every_automation_at_once(template, reason):
    first = _automation(template, "manual", {}, steps=[{"kind": "wait", "wait": timedelta(hours=1)}])
    second = _automation(template, "custom_event", {"event": "x"})
    ada = SubscriberFactory()
    automation_enroll(actor=None, automation=first, subscriber=ada)
    automation_enroll(actor=None, automation=second, subscriber=ada)
    suppression_add(email=ada.email, reason=reason, note="test")
    assert set(AutomationEnrollment.objects.values_list("state", flat=True)) == {"exited"}
    assert automations_advance().claimed == 0 and not Delivery.objects.exists()


def test_an_erased_subscriber_leaves_and_their_walks_go(template):
    automation = _automation(template, "manual", {})
    ada = SubscriberFactory()
    automation_enroll(actor=None, automation=automation, subscriber=ada)
    subscriber_erase(subscriber=ada)
    assert not AutomationEnrollment.objects.exists()


def test_finishing_an_automation_emits_automation_completed(template):
    from channels_app.event_models import OutboundEvent, WebhookEndpoint

    WebhookEndpoint.objects.create(
        name="crm", url="https://crm.example.com/hook", credentials={"secret": "whsec_x"},
        event_types=["automation.completed"],
    )  # fmt: skip
    automation = _automation(template, "manual", {})
    ada = SubscriberFactory()
    automation_enroll(actor=None, automation=automation, subscriber=ada)
    automations_advance()
    event = OutboundEvent.objects.get(type="automation.completed")
    assert event.subscriber_id == ada.pk
    assert event.payload["data"]["automation"]["name"] == automation.name
    assert event.payload["data"]["subscriber"]["email"] == ada.email


def test_entering_a_segment_is_found_by_the_periodic_scan_once(template):
    from publishing.services.automations.enroll import automations_scan_triggers
    from subscribers.models import Segment

    segment = Segment.objects.create(name="vip", rules={"type": "attribute", "key": "vip", "op": "eq", "value": True})
    automation = _automation(template, "segment_entered", {"segment": segment.pk})
    ada, bob = SubscriberFactory(attributes={"vip": True}), SubscriberFactory(attributes={"vip": False})
    assert automations_scan_triggers() == 1
    bob.attributes = {"vip": True}
    bob.save(update_fields=["attributes"])
    assert automations_scan_triggers() == 1
    assert automations_scan_triggers() == 0
    entered = set(AutomationEnrollment.objects.filter(automation=automation).values_list("subscriber_id", flat=True))
    assert entered == {ada.pk, bob.pk}


def test_an_anniversary_enters_once_a_year_and_a_bad_date_stops_nobody(template):
    from datetime import date

    from core.clock import clock
    from publishing.services.automations.enroll import automations_scan_triggers

    today = clock.now().date()
    automation = _automation(template, "date", {"field": "joined", "mode": "anniversary"})
    ada = SubscriberFactory(attributes={"joined": today.replace(year=today.year - 3).isoformat()})
    SubscriberFactory(attributes={"joined": f"{today.year - 1}-02-31"})  # not a date
    SubscriberFactory(attributes={"joined": date(2001, 1, 1).isoformat() if today.month != 1 else "2001-06-01"})
    assert automations_scan_triggers() == 1
    assert automations_scan_triggers() == 0
    enrollment = AutomationEnrollment.objects.get(automation=automation)
    assert enrollment.subscriber_id == ada.pk and enrollment.occurrence == str(today.year)


def test_an_unknown_time_zone_waits_until_the_time_in_utc(template):
    from datetime import time

    automation = _automation(
        template, "manual", {}, steps=[{"kind": "wait_until", "local_time": time(9, 30)}, {"kind": "exit"}]
    )
    lost = SubscriberFactory(timezone="Mars/Olympus_Mons")
    automation_enroll(actor=None, automation=automation, subscriber=lost)
    automations_advance()
    due = AutomationEnrollment.objects.get().due_at.astimezone(UTC)
    assert (due.hour, due.minute) == (9, 30)


def test_a_template_an_automation_sends_cannot_be_deleted(template):
    from core.exceptions import ApplicationError
    from publishing.services.transactional import message_template_delete

    _automation(template, "manual", {})
    with pytest.raises(ApplicationError) as error:
        message_template_delete(actor=None, template=template)
    assert error.value.status_code == 409


def test_a_step_on_a_disabled_channel_holds_its_subscribers_and_the_others_go_on(template):
    other_channel = ChannelFactory(kind="email", config={"esp": "outbox", "from_email": "o@example.com"})
    other = message_template_create(actor=None, name="other", channel=other_channel, subject="S", body="B")
    blocked = _automation(template, "manual", {})
    flowing = _automation(other, "custom_event", {"event": "go"})
    ada, bob = SubscriberFactory(), SubscriberFactory()
    automation_enroll(actor=None, automation=blocked, subscriber=ada)
    automation_enroll(actor=None, automation=flowing, subscriber=bob)
    template.channel.is_active = False
    template.channel.save(update_fields=["is_active"])
    result = automations_advance()
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [bob.pk]
    held = AutomationEnrollment.objects.get(automation=blocked)
    assert held.state == "active" and held.position == 0 and result.completed == 1


def test_a_paused_subscriber_gets_the_message_when_the_pause_ends(template):
    from core.clock import clock

    automation = _automation(template, "manual", {})
    ada = SubscriberFactory(paused_until=clock.now() + timedelta(days=3))
    automation_enroll(actor=None, automation=automation, subscriber=ada)
    automations_advance()
    enrollment = AutomationEnrollment.objects.get()
    assert not Delivery.objects.exists() and enrollment.due_at == ada.paused_until
    try:
        clock.advance(3 * 86400 + 1)
        automations_advance()
    finally:
        clock.reset()
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [ada.pk]
