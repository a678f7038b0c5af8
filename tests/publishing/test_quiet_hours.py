"""Quiet hours: a delivery that would land inside the window on the subscriber's own clock waits
for the window's end there (zones east and west of UTC, DST changes); alerts pass only with the
explicit bypass."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from channels_app.models import Delivery
from channels_app.services.sweeper import deliveries_sweep
from publishing.models import Publication
from publishing.services.publish import publication_publish
from publishing.services.quiet_hours import QuietWindow, quiet_until
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

NIGHT = [QuietWindow(time(21), time(8))]


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "moment", "expected"),
    [
        ("Europe/Paris", _utc(2026, 6, 10, 20, 30), _utc(2026, 6, 11, 6)),  # 22:30 CEST → 08:00 CEST
        ("Asia/Tokyo", _utc(2026, 6, 10, 20, 30), _utc(2026, 6, 10, 23)),  # 05:30 JST → 08:00 JST
        ("Asia/Tokyo", _utc(2026, 6, 10, 14, 0), _utc(2026, 6, 10, 23)),  # 23:00 JST → 08:00 JST
        ("America/Los_Angeles", _utc(2026, 6, 10, 12, 0), _utc(2026, 6, 10, 15)),  # 05:00 PDT → 08:00 PDT
        ("America/Los_Angeles", _utc(2026, 6, 10, 20, 0), None),  # 13:00 PDT: outside
        ("Europe/Paris", _utc(2026, 3, 28, 22, 0), _utc(2026, 3, 29, 6)),  # 23:00 CET; ends 08:00 CEST (spring)
        ("America/New_York", _utc(2026, 11, 1, 2, 0), _utc(2026, 11, 1, 13)),  # 22:00 EDT; ends 08:00 EST (fall)
        ("UTC", _utc(2026, 6, 10, 8, 0), None),  # the end itself is outside
    ],
)
def test_the_window_ends_at_its_local_end_in_each_zone(zone, moment, expected):
    assert quiet_until(moment, ZoneInfo(zone), NIGHT) == expected


def test_a_daytime_window_and_back_to_back_windows():
    lunch = [QuietWindow(time(12), time(14)), QuietWindow(time(14), time(15))]
    assert quiet_until(_utc(2026, 6, 10, 12, 30), ZoneInfo("UTC"), lunch) == _utc(2026, 6, 10, 15)
    assert quiet_until(_utc(2026, 6, 10, 11, 59), ZoneInfo("UTC"), lunch) is None


def _at(clock, instant: datetime) -> None:
    clock.advance((instant - clock.now()).total_seconds())


@pytest.fixture
def readers(topic):
    """One instant email reader per zone; at 20:30 UTC it is night in Paris, dawn in Tokyo and
    the afternoon in Los Angeles."""
    zones = {"paris": "Europe/Paris", "tokyo": "Asia/Tokyo", "la": "America/Los_Angeles"}
    result = {}
    for name, zone in zones.items():
        result[name] = SubscriberFactory(email=f"{name}@example.com", timezone=zone)
        SubscriptionFactory(subscriber=result[name], topic=topic, frequency="instant")
    return result


def _publish(draft, publisher, capture):
    with capture(execute=True):
        publication_publish(publication=draft, actor=publisher)
    return {d.recipient: d for d in Delivery.objects.filter(send__publication=draft)}


def test_quiet_hours_hold_across_zones_and_each_goes_at_its_own_morning(
    draft, publisher, email_channel, readers, outbox, clock, django_capture_on_commit_callbacks
):
    draft.quiet_hours_start, draft.quiet_hours_end = time(21), time(8)
    draft.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    _at(clock, _utc(2026, 6, 10, 20, 30))

    deliveries = _publish(draft, publisher, django_capture_on_commit_callbacks)

    assert [m["To"] for m in outbox()] == ["la@example.com"]
    assert deliveries["paris@example.com"].next_attempt_at == _utc(2026, 6, 11, 6)  # 08:00 CEST
    assert deliveries["tokyo@example.com"].next_attempt_at == _utc(2026, 6, 10, 23)  # 08:00 JST
    for instant, expected in (
        (_utc(2026, 6, 10, 23, 0, 1), 2),
        (_utc(2026, 6, 11, 5, 59), 2),
        (_utc(2026, 6, 11, 6), 3),
    ):
        _at(clock, instant)
        with django_capture_on_commit_callbacks(execute=True):
            deliveries_sweep()
        assert len(outbox()) == expected
    assert outbox()[1]["To"] == "tokyo@example.com" and outbox()[2]["To"] == "paris@example.com"


def test_the_topics_quiet_hours_apply_when_the_publication_sets_none(
    draft, publisher, email_channel, readers, topic, clock, django_capture_on_commit_callbacks
):
    topic.quiet_hours_start, topic.quiet_hours_end = time(21), time(8)
    topic.save(update_fields=["quiet_hours_start", "quiet_hours_end"])
    _at(clock, _utc(2026, 6, 10, 20, 30))
    deliveries = _publish(draft, publisher, django_capture_on_commit_callbacks)
    assert deliveries["paris@example.com"].state == Delivery.State.QUEUED
    assert deliveries["la@example.com"].state == Delivery.State.SENT


@pytest.mark.parametrize(("bypass", "paris_state"), [(False, Delivery.State.QUEUED), (True, Delivery.State.SENT)])
def test_an_alert_passes_quiet_hours_only_with_the_explicit_bypass(
    draft, publisher, email_channel, readers, clock, django_capture_on_commit_callbacks, bypass, paris_state
):
    draft.priority = Publication.Priority.ALERT
    draft.quiet_hours_start, draft.quiet_hours_end, draft.quiet_hours_bypass_alerts = time(21), time(8), bypass
    draft.save()
    _at(clock, _utc(2026, 6, 10, 20, 30))
    deliveries = _publish(draft, publisher, django_capture_on_commit_callbacks)
    assert deliveries["paris@example.com"].state == paris_state
