"""Send-time optimization: each subscriber's mail goes at the local hour of most of their human
opens and clicks (else their zone's, else everyone's), a random holdout at once, and the lift of
the optimized group over the holdout is reported after the send."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from channels_app.models import Delivery, Send
from channels_app.services.sweeper import deliveries_sweep
from publishing.models import SendTimeAssignment
from publishing.send_time_models import SendTimeGroup, SendTimeSource
from publishing.services.publish import publication_publish
from publishing.services.send_time import next_local_hour, send_time_lift
from tests.factories import DeliveryFactory, EngagementEventFactory, SendFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

START = datetime(2026, 6, 10, 10, 0, tzinfo=UTC)


def _at(clock, instant: datetime) -> None:
    clock.advance((instant - clock.now()).total_seconds())


def _reader(topic, channel, name: str, zone: str, hours: dict[int, int] | None = None, machine: dict | None = None):
    """A reader whose past human opens fell at `hours` ({local hour: how many}); `machine` opens
    (privacy proxies, scanners) must not count."""
    reader = SubscriberFactory(email=f"{name}@example.com", timezone=zone)
    SubscriptionFactory(subscriber=reader, topic=topic, frequency="instant")
    old = DeliveryFactory(send=SendFactory(key=f"old-{name}"), channel=channel, subscriber=reader, state="sent")
    for is_machine, counts in ((False, hours or {}), (True, machine or {})):
        for hour, n in counts.items():
            for day in range(n):
                local = datetime(2026, 5, 1 + day, hour, 20, tzinfo=ZoneInfo(zone))
                EngagementEventFactory(delivery=old, kind="open", occurred_at=local, is_machine=is_machine)
    return reader


def _publish(draft, publisher, capture):
    with capture(execute=True):
        publication_publish(publication=draft, actor=publisher)
    return Send.objects.get(publication=draft)


def test_next_local_hour_is_within_24_hours_and_keeps_the_wall_clock_over_dst():
    paris = ZoneInfo("Europe/Paris")
    assert next_local_hour(START, paris, 12) == START  # 12:00 CEST now
    assert next_local_hour(START, paris, 11) == START + timedelta(hours=23)
    before_fall_back = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # 14:00 CEST; clocks go back that night
    assert next_local_hour(before_fall_back, paris, 9) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)  # 09:00 CET


def test_each_subscriber_gets_the_send_within_their_learned_hour(
    draft, publisher, email_channel, topic, outbox, clock, django_capture_on_commit_callbacks
):
    readers = {
        "paris": (_reader(topic, email_channel, "paris", "Europe/Paris", {7: 3, 19: 1}), 7, SendTimeSource.SUBSCRIBER),
        "tokyo": (_reader(topic, email_channel, "tokyo", "Asia/Tokyo", {21: 2}, machine={3: 5}), 21, "subscriber"),
        "ny": (_reader(topic, email_channel, "ny", "America/New_York", {12: 2}), 12, SendTimeSource.SUBSCRIBER),
        "paris2": (_reader(topic, email_channel, "paris2", "Europe/Paris"), 7, SendTimeSource.COHORT),
        "lima": (_reader(topic, email_channel, "lima", "America/Lima"), None, SendTimeSource.AUDIENCE),
    }
    draft.send_time_optimized, draft.send_time_holdout_percent = True, 0
    draft.save(update_fields=["send_time_optimized", "send_time_holdout_percent"])
    _at(clock, START)

    send = _publish(draft, publisher, django_capture_on_commit_callbacks)

    assert send.kind == Send.Kind.NEWSLETTER
    assert outbox() == []  # nobody's best hour is 10:00 UTC's local hour
    for _ in range(24):  # a day, hour by hour: the sweeper lets each out when due
        clock.advance(3600)
        with django_capture_on_commit_callbacks(execute=True):
            deliveries_sweep()
    assert len(outbox()) == 5
    audience_hour = 7  # everyone's local hours: Paris' three 07:00 opens outnumber the others
    for reader, hour, source in readers.values():
        delivery = Delivery.objects.get(send=send, subscriber=reader)
        assignment = SendTimeAssignment.objects.get(delivery=delivery)
        assert (assignment.group, assignment.source) == (SendTimeGroup.OPTIMIZED, source)
        assert delivery.state == Delivery.State.SENT
        assert delivery.sent_at.astimezone(ZoneInfo(reader.timezone)).hour == (hour or audience_hour)
        assert delivery.sent_at - START <= timedelta(hours=24)


def test_the_holdout_goes_at_once_and_the_lift_is_reported(
    draft, publisher, email_channel, topic, clock, django_capture_on_commit_callbacks
):
    for i in range(200):
        _reader(topic, email_channel, f"r{i}", "UTC", {18: 1})
    draft.send_time_optimized, draft.send_time_holdout_percent = True, 30
    draft.save(update_fields=["send_time_optimized", "send_time_holdout_percent"])
    _at(clock, START)
    send = _publish(draft, publisher, django_capture_on_commit_callbacks)

    assignments = SendTimeAssignment.objects.filter(send=send)
    holdout = list(assignments.filter(group=SendTimeGroup.HOLDOUT).values_list("delivery_id", flat=True))
    optimized = list(assignments.filter(group=SendTimeGroup.OPTIMIZED).values_list("delivery_id", flat=True))
    assert 30 <= len(holdout) <= 100 and len(holdout) + len(optimized) == 200
    assert set(Delivery.objects.filter(pk__in=holdout).values_list("state", flat=True)) == {"sent"}
    assert set(Delivery.objects.filter(pk__in=optimized).values_list("state", flat=True)) == {"queued"}
    _at(clock, START + timedelta(hours=8))  # 18:00 UTC
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert Delivery.objects.filter(send=send, state="sent").count() == 200

    for pk in optimized[: len(optimized) // 2]:  # half the optimized group opens, a quarter of the holdout
        EngagementEventFactory(delivery_id=pk, kind="open", occurred_at=clock.now())
    for pk in holdout[: len(holdout) // 4]:
        EngagementEventFactory(delivery_id=pk, kind="open", occurred_at=clock.now())
    EngagementEventFactory(delivery_id=holdout[-1], kind="open", occurred_at=clock.now(), is_machine=True)
    EngagementEventFactory(delivery_id=optimized[0], kind="click", occurred_at=clock.now())

    lift = send_time_lift(publication=draft)
    opened = (len(optimized) // 2) / len(optimized), (len(holdout) // 4) / len(holdout)
    assert lift["optimized"]["open_rate"] == opened[0] and lift["holdout"]["open_rate"] == opened[1]
    assert lift["open_lift"] == round(opened[0] / opened[1] - 1, 4)
    assert lift["optimized"]["clicked"] == 1 and lift["click_lift"] is None  # no holdout click: no ratio
    assert lift["finished"] is True
