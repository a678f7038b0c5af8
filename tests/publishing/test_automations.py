"""Automations: the welcome series on schedule in the subscriber's time zone, leaving on
unsubscribe, versions, triggers, and the advance's guarantees (once per step, catch-up)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from channels_app.models import Delivery
from core.clock import clock as the_clock
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.automation_models import AutomationEnrollment, AutomationStepStat
from publishing.services.automations.advance import automations_advance
from publishing.services.automations.definitions import automation_create, automation_update
from publishing.services.automations.enroll import automation_enroll, automations_scan_triggers, custom_event_post
from publishing.services.transactional import message_template_create
from subscribers.models import Subscriber
from subscribers.services.consent import ConsentContext
from subscribers.services.subscribe import subscriber_activate
from subscribers.services.unsubscribe import subscriber_unsubscribe
from tests.factories import PendingSubscriberFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def _templates(channel):
    welcome = message_template_create(
        actor=None, name="welcome", channel=channel, subject="Welcome {{ subscriber.first_name }}",
        body="Hello {{ subscriber.name }}, read [our guide](https://example.com/guide).",
    )  # fmt: skip
    tips = message_template_create(
        actor=None, name="tips", channel=channel, subject="Tips", body='Tip for {{ data.plan|default:"you" }}'
    )
    return welcome, tips


def _series(channel, **kwargs):
    welcome, tips = _templates(channel)
    steps = [
        {"kind": "send", "template": welcome},
        {"kind": "wait", "wait": timedelta(days=1)},
        {"kind": "wait_until", "local_time": datetime(2000, 1, 1, 9, 0).time()},
        {"kind": "send", "template": tips},
    ]
    return automation_create(actor=None, name="Welcome", trigger="confirmed", steps=steps, is_active=True, **kwargs)


def _confirm(subscriber):
    with_context = ConsentContext(method="form")
    return subscriber_activate(subscriber=subscriber, context=with_context, action="confirmed", wording="yes")


def _sent_to(email):
    return Delivery.objects.filter(subscriber__email=email, send__kind="automation").order_by("pk")


def test_a_confirmed_subscriber_gets_the_welcome_series_on_schedule_in_their_timezone(
    email_channel, outbox, clock, django_capture_on_commit_callbacks
):
    _series(email_channel)
    ada = PendingSubscriberFactory(email="ada@example.com", name="Ada Lovelace", timezone="Asia/Tokyo")
    _confirm(ada)
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    assert [m["Subject"] for m in outbox()] == ["Welcome Ada"]
    assert "Hello Ada Lovelace" in outbox()[0].get_body(("plain",)).get_content()
    enrollment = AutomationEnrollment.objects.get()
    assert enrollment.position == 2 and enrollment.due_at > the_clock.now() + timedelta(hours=23)
    clock.advance(24 * 3600 + 5)
    automations_advance()
    enrollment.refresh_from_db()
    local = enrollment.due_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert (local.hour, local.minute) == (9, 0) and enrollment.due_at > the_clock.now()
    assert len(outbox()) == 1  # nothing before 09:00 in Tokyo
    clock.advance((enrollment.due_at - the_clock.now()).total_seconds() + 1)
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    assert [m["Subject"] for m in outbox()] == ["Welcome Ada", "Tips"]
    assert "Tip for you" in outbox()[1].get_body(("plain",)).get_content()
    enrollment.refresh_from_db()
    assert enrollment.state == "completed"


def test_unsubscribing_midway_stops_the_series(email_channel, outbox, clock, django_capture_on_commit_callbacks):
    _series(email_channel)
    bob = PendingSubscriberFactory(email="bob@example.com", timezone="Europe/Paris")
    _confirm(bob)
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    subscriber_unsubscribe(subscriber=bob, context=ConsentContext(method="link"))
    assert AutomationEnrollment.objects.get().state == "exited"
    clock.advance(3 * 86400)
    with django_capture_on_commit_callbacks(execute=True):
        result = automations_advance()
    assert result.claimed == 0 and len(outbox()) == 1


def test_a_beat_outage_of_hours_catches_up_with_one_message_per_due_step(
    email_channel, clock, django_capture_on_commit_callbacks
):
    automation = _series(email_channel)
    subscribers = [SubscriberFactory(timezone="UTC") for _ in range(5)]
    for s in subscribers:
        automation_enroll(actor=None, automation=automation, subscriber=s)
    clock.advance(10 * 3600)  # the beat was down for ten hours: every first step is overdue
    result = automations_advance()
    assert result.sent == 5 and Delivery.objects.count() == 5
    assert sum(1 for late in result.lateness if late >= 10 * 3600) == 5  # the overdue first steps
    result = automations_advance()  # run again at once: nothing more is due
    assert result.claimed == 0 and Delivery.objects.count() == 5
    clock.advance(40 * 3600)  # past the wait and the 09:00 UTC: one more message each, no more
    automations_advance()
    clock.advance(40 * 3600)
    automations_advance()
    assert Delivery.objects.count() == 10
    assert sorted(Delivery.objects.values_list("subscriber_id", flat=True)) == sorted(2 * [s.pk for s in subscribers])
    stats = {s.position: (s.entered, s.sent) for s in AutomationStepStat.objects.all()}
    assert stats[0] == (5, 5) and stats[3] == (5, 5)


def test_editing_a_running_automation_keeps_walks_in_flight_on_their_version(email_channel):
    automation = _series(email_channel)
    first = SubscriberFactory()
    automation_enroll(actor=None, automation=automation, subscriber=first)
    automations_advance()
    old_version = automation.current_version_id
    automation_update(actor=None, automation=automation, steps=[{"kind": "exit"}])
    automation.refresh_from_db()
    assert automation.current_version_id != old_version
    second = SubscriberFactory()
    automation_enroll(actor=None, automation=automation, subscriber=second)
    assert AutomationEnrollment.objects.get(subscriber=first).version_id == old_version
    assert AutomationEnrollment.objects.get(subscriber=second).version_id == automation.current_version_id
    assert Delivery.objects.filter(subscriber=first).count() == 1


def test_a_custom_event_enters_its_automation_once_with_its_data(
    email_channel, outbox, django_capture_on_commit_callbacks
):
    _, tips = _templates(email_channel)
    automation_create(
        actor=None, name="Trial", trigger="custom_event", trigger_config={"event": "trial.started"},
        steps=[
            {"kind": "send", "template": tips},
            {"kind": "field_set", "field_key": "onboarded", "field_value": True},
        ],
        is_active=True,
    )  # fmt: skip
    carol = SubscriberFactory()
    assert custom_event_post(actor=None, subscriber_id=carol.pk, name="trial.started", data={"plan": "<b>pro</b>"}) == 1
    assert custom_event_post(actor=None, subscriber_id=carol.pk, name="trial.started", data={}) == 0
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    [message] = outbox()
    assert "Tip for <b>pro</b>" in message.get_body(("plain",)).get_content()
    assert "&lt;b&gt;pro&lt;/b&gt;" in message.get_body(("html",)).get_content()
    carol.refresh_from_db()
    assert carol.attributes["onboarded"] is True


@pytest.mark.parametrize(("value", "shown"), [(True, "true"), (3, "3"), (2.5, "2.5"), (None, "you")])
def test_event_data_that_is_not_text_reads_the_same_on_every_database(
    email_channel, outbox, django_capture_on_commit_callbacks, value, shown
):
    _, tips = _templates(email_channel)
    automation_create(
        actor=None, name="Trial", trigger="custom_event", trigger_config={"event": "trial.started"},
        steps=[{"kind": "send", "template": tips}], is_active=True,
    )  # fmt: skip
    dan = SubscriberFactory()
    custom_event_post(actor=None, subscriber_id=dan.pk, name="trial.started", data={"plan": value})
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    assert outbox()[0].get_body(("plain",)).get_content().splitlines()[0] == f"Tip for {shown}"


def test_bad_custom_events_and_automations_are_field_errors(make_user):
    with pytest.raises(ApplicationError) as error:
        custom_event_post(actor=None, subscriber_id="x", name="", data=[1])
    assert set(error.value.extra["fields"]) == {"subscriber", "name", "data"}
    with pytest.raises(ApplicationError) as error:
        automation_create(actor=None, name="", trigger="nope", steps=[{"kind": "wait"}])
    assert {"name", "trigger", "steps[0].wait"} <= set(error.value.extra["fields"])
    loop = [
        {"kind": "wait", "wait": timedelta(hours=1)},
        {"kind": "branch_engaged", "engagement": "opened", "if_true": 0},
    ]
    with pytest.raises(ApplicationError) as error:
        automation_create(actor=None, name="loop", trigger="manual", steps=loop)
    assert "steps[1].if_true" in error.value.extra["fields"]  # branches go forward only: no loops
    with pytest.raises(ApplicationError) as error:
        automation_create(actor=make_user(Role.VIEWER), name="x", trigger="manual")
    assert error.value.status_code == 403


def test_a_segment_branch_and_a_date_trigger(email_channel, clock):
    from subscribers.models import Segment

    _, tips = _templates(email_channel)
    segment = Segment.objects.create(name="pro", rules={"type": "attribute", "key": "plan", "op": "eq", "value": "pro"})
    automation_create(
        actor=None, name="Renewal", trigger="date", trigger_config={"field": "renewal", "mode": "on_date"},
        steps=[{"kind": "branch_segment", "segment": segment, "if_false": 2}, {"kind": "send", "template": tips},
               {"kind": "exit"}],
        is_active=True,
    )  # fmt: skip
    today = the_clock.now().astimezone(UTC).date().isoformat()
    pro = SubscriberFactory(attributes={"renewal": today, "plan": "pro"})
    free = SubscriberFactory(attributes={"renewal": today, "plan": "free"})
    SubscriberFactory(attributes={"renewal": "2001-01-01", "plan": "pro"})
    assert automations_scan_triggers() == 2
    assert automations_scan_triggers() == 0
    automations_advance()
    assert list(Delivery.objects.values_list("subscriber_id", flat=True)) == [pro.pk]
    assert AutomationEnrollment.objects.get(subscriber=free).state == "completed"


def _two_concurrent_beats(email_channel):
    automation = _series(email_channel)
    subscribers = [SubscriberFactory() for _ in range(300)]
    for s in subscribers:
        automation_enroll(actor=None, automation=automation, subscriber=s)
    barrier, results, errors = threading.Barrier(2), [], []

    def beat():
        try:
            barrier.wait()
            results.append(automations_advance(batch=50))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    return results


@pytest.mark.django_db(transaction=True)
def test_a_step_replayed_by_two_concurrent_beats_sends_once(email_channel):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's SKIP LOCKED lets both beats work at once; SQLite: the next test")
    results = _two_concurrent_beats(email_channel)
    assert Delivery.objects.count() == 300
    assert Delivery.objects.values("subscriber_id").distinct().count() == 300
    assert sum(r.sent for r in results) == 300 and all(r.claimed > 0 for r in results)
    assert AutomationStepStat.objects.get(position=0).sent == 300
    assert Subscriber.objects.count() == 300


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_beats_on_sqlite_take_turns_and_send_once(email_channel):
    """SQLite has one writer: each batch holds the write lock from its claim (BEGIN IMMEDIATE,
    sql.claim_sql), the other beat waits and then finds the claimed rows moved on."""
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite default only (PostgreSQL: the test above)")
    results = _two_concurrent_beats(email_channel)
    assert Delivery.objects.count() == 300
    assert Delivery.objects.values("subscriber_id").distinct().count() == 300
    assert sum(r.sent for r in results) == 300
    assert AutomationStepStat.objects.get(position=0).sent == 300
    assert AutomationEnrollment.objects.filter(position=2).count() == 300
    # a row claimed by both beats would have entered the next steps twice
    assert [s.entered for s in AutomationStepStat.objects.order_by("position")] == [300, 300, 300]


def _at_utc_hour(clock, hour: int) -> None:
    """Move the test clock forward to the next `hour`:00 UTC."""
    now = the_clock.now()
    target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    clock.advance((target - now).total_seconds())


def test_quiet_hours_hold_a_message_step_until_the_windows_end_on_each_subscribers_clock(
    email_channel, outbox, clock, django_capture_on_commit_callbacks
):
    from channels_app.services.sweeper import deliveries_sweep

    _at_utc_hour(clock, 14)  # 23:00 in Tokyo (no DST), afternoon in Paris
    automation = _series(email_channel, quiet_hours_start=time(21, 0), quiet_hours_end=time(8, 0))
    tokyo = SubscriberFactory(email="tokyo@example.com", timezone="Asia/Tokyo")
    paris = SubscriberFactory(email="paris@example.com", timezone="Europe/Paris")
    for subscriber in (tokyo, paris):
        automation_enroll(actor=None, automation=automation, subscriber=subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        automations_advance()
    assert [m["To"] for m in outbox()] == ["paris@example.com"]
    held = _sent_to("tokyo@example.com").get()
    local = held.next_attempt_at.astimezone(ZoneInfo("Asia/Tokyo"))
    assert held.state == "queued" and (local.hour, local.minute) == (8, 0)
    assert timedelta(hours=8, minutes=59) < held.next_attempt_at - the_clock.now() <= timedelta(hours=9)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert len(outbox()) == 1  # still night in Tokyo: the sweeper leaves it
    clock.advance(9 * 3600 + 1)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert [m["To"] for m in outbox()] == ["paris@example.com", "tokyo@example.com"]


def test_an_automations_quiet_hours_need_both_ends_and_bind_its_sends(email_channel):
    welcome, _ = _templates(email_channel)
    steps = [{"kind": "send", "template": welcome}]
    with pytest.raises(ApplicationError) as refused:
        automation_create(actor=None, name="Q", trigger="confirmed", steps=steps, quiet_hours_start=time(21, 0))
    assert "quiet_hours_end" in refused.value.extra["fields"]
    automation = automation_create(
        actor=None,
        name="Q",
        trigger="confirmed",
        steps=steps,
        quiet_hours_start=time(22, 0),
        quiet_hours_end=time(7, 0),
    )
    automation_update(actor=None, automation=automation, quiet_hours_start=time(20, 0))
    automation.refresh_from_db()
    assert automation.quiet_hours_start == time(20, 0)
    with pytest.raises(ApplicationError):
        automation_update(actor=None, automation=automation, quiet_hours_end=time(20, 0))  # start == end

    from channels_app.models import Send
    from publishing.services.automations.advance import step_send
    from publishing.services.quiet_hours import QuietWindow, quiet_windows_for

    version = automation.current_version
    send = step_send(version=version, position=0, occurrence="", step=version.steps[0])
    assert send.kind == Send.Kind.AUTOMATION
    assert quiet_windows_for(send=send) == [QuietWindow(time(20, 0), time(7, 0))]  # warm-up's re-check sees it
