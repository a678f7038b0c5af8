"""Digests: due at each subscriber's local hour, once per period, whatever beat does."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections

from analytics.links import click_token_read
from channels_app.models import Delivery, Send
from channels_app.rendering import prepare
from channels_app.services.deliveries import deliveries_rows
from publishing.models import DigestLog
from publishing.services.digests import digest_slot, digests_run
from subscribers.models import Subscription
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def reader(topic, *, frequency="daily", tz="UTC", hour=8, weekday=0, **kwargs):
    subscriber = SubscriberFactory(timezone=tz, digest_hour=hour, digest_weekday=weekday, **kwargs)
    SubscriptionFactory(subscriber=subscriber, topic=topic, frequency=frequency)
    return subscriber


def published(topic, at: datetime, **kwargs):
    return PublicationFactory(topics=[topic], published=True, published_at=at, **kwargs)


def tick(now: datetime, capture=None):
    if capture is None:
        return digests_run(now=now)
    with capture(execute=True):
        return digests_run(now=now)


def ticks(start: datetime, end: datetime, every: timedelta):
    while start <= end:
        yield start
        start += every


def periods(subscriber, frequency="daily") -> list[date]:
    return list(
        DigestLog.objects.filter(subscriber=subscriber, frequency=frequency)
        .order_by("period")
        .values_list("period", flat=True)
    )


def items_sent(subscriber) -> list[list[int]]:
    return [d.context["items"] for d in Delivery.objects.filter(subscriber=subscriber).order_by("pk")]


def test_a_daily_digest_goes_out_once_at_the_local_hour_and_repeated_ticks_add_nothing(
    topic, email_channel, outbox, django_capture_on_commit_callbacks
):
    ada = reader(topic, hour=8)
    story = published(topic, utc(2026, 1, 14, 12), title="Yesterday's story")
    assert tick(utc(2026, 1, 15, 7, 55), django_capture_on_commit_callbacks).due == 0
    first = tick(utc(2026, 1, 15, 8, 0), django_capture_on_commit_callbacks)
    assert (first.due, first.sent) == (1, 1)
    for minutes in (5, 10, 60, 300):
        assert tick(utc(2026, 1, 15, 8) + timedelta(minutes=minutes), django_capture_on_commit_callbacks).sent == 0
    [message] = outbox()
    assert message["To"] == ada.email
    assert message["Subject"] == "Your daily Bulletin digest: Yesterday's story"
    assert "List-Unsubscribe" in message
    assert "Yesterday&#x27;s story" in message.get_body(preferencelist=("html",)).get_content() or (
        "Yesterday's story" in message.get_body(preferencelist=("html",)).get_content()
    )
    assert items_sent(ada) == [[story.pk]]
    log = DigestLog.objects.get()
    assert (log.period, log.scheduled_for, log.publication_ids) == (date(2026, 1, 15), utc(2026, 1, 15, 8), [story.pk])


def test_time_zones_on_both_sides_of_utc_get_their_digest_at_their_own_local_hour(topic, email_channel):
    tokyo = reader(topic, tz="Asia/Tokyo", hour=8)  # UTC+9: 23:00 UTC the day before
    los_angeles = reader(topic, tz="America/Los_Angeles", hour=8)  # UTC-8 in January: 16:00 UTC
    kathmandu = reader(topic, tz="Asia/Kathmandu", hour=8)  # UTC+5:45: 02:15 UTC
    first_seen: dict[int, datetime] = {}
    for now in ticks(utc(2026, 1, 14, 15), utc(2026, 1, 15, 15), timedelta(minutes=15)):
        tick(now)
        for log in DigestLog.objects.all():
            first_seen.setdefault(log.subscriber_id, now)
    assert first_seen == {
        los_angeles.pk: utc(2026, 1, 14, 16),  # 08:00 on the 14th in Los Angeles
        tokyo.pk: utc(2026, 1, 14, 23),  # 08:00 on the 15th in Tokyo
        kathmandu.pk: utc(2026, 1, 15, 2, 15),  # 08:00 on the 15th in Kathmandu
    }
    assert periods(los_angeles) == [date(2026, 1, 14)]
    assert periods(tokyo) == periods(kathmandu) == [date(2026, 1, 15)]


@pytest.mark.parametrize(
    ("zone", "hour", "days"),
    [
        (
            "America/New_York",
            2,
            (date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)),
        ),  # 02:00 does not exist on the 9th
        ("Europe/Paris", 2, (date(2025, 3, 29), date(2025, 3, 30), date(2025, 3, 31))),  # nor on the 30th
        ("Australia/Sydney", 2, (date(2025, 10, 4), date(2025, 10, 5), date(2025, 10, 6))),  # southern spring
        ("America/New_York", 1, (date(2025, 11, 1), date(2025, 11, 2), date(2025, 11, 3))),  # 01:00 happens twice
        ("Europe/Paris", 2, (date(2025, 10, 25), date(2025, 10, 26), date(2025, 10, 27))),  # 02:00 twice
        ("Australia/Sydney", 2, (date(2025, 4, 5), date(2025, 4, 6), date(2025, 4, 7))),  # southern autumn
    ],
    ids=["ny-spring", "paris-spring", "sydney-spring", "ny-autumn", "paris-autumn", "sydney-autumn"],
)
def test_dst_transitions_neither_skip_nor_double_a_daily_digest(topic, email_channel, zone, hour, days):
    subscriber = reader(topic, tz=zone, hour=hour)
    # From local midnight of the first day to the last minute of the last one, in 30-minute ticks.
    start = datetime.combine(days[0], time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    end = datetime.combine(days[-1], time(23, 59), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    for now in ticks(start, end, timedelta(minutes=30)):
        tick(now)
    assert periods(subscriber) == list(days)


def test_on_the_spring_forward_day_a_missing_local_hour_resolves_just_after_the_gap():
    slot = digest_slot(frequency="daily", tz_name="America/New_York", hour=2, weekday=0, now=utc(2025, 3, 9, 12))
    assert (slot.period, slot.scheduled_for) == (date(2025, 3, 9), utc(2025, 3, 9, 7))  # 03:00 EDT


def test_on_the_autumn_day_a_repeated_local_hour_is_its_first_occurrence():
    slot = digest_slot(frequency="daily", tz_name="America/New_York", hour=1, weekday=0, now=utc(2025, 11, 2, 12))
    assert (slot.period, slot.scheduled_for) == (date(2025, 11, 2), utc(2025, 11, 2, 5))  # 01:00 EDT


def test_a_missed_run_catches_up_once_not_once_per_missed_tick(
    topic, email_channel, django_capture_on_commit_callbacks
):
    subscriber = reader(topic, hour=8)
    published(topic, utc(2026, 1, 15, 6))
    outcomes = [
        tick(now, django_capture_on_commit_callbacks)
        for now in ticks(utc(2026, 1, 15, 14), utc(2026, 1, 15, 15), timedelta(minutes=5))
    ]
    assert [o.sent for o in outcomes].count(1) == 1 and sum(o.sent for o in outcomes) == 1
    assert periods(subscriber) == [date(2026, 1, 15)]
    assert Send.objects.get(kind="digest").deliveries.count() == 1


def test_beat_down_longer_than_the_catch_up_skips_that_period_and_the_next_digest_has_its_items(
    topic, email_channel, settings
):
    settings.DIGEST_CATCH_UP_HOURS = 12
    subscriber = reader(topic, hour=8)
    reader_log = DigestLog.objects.filter(subscriber=subscriber)
    tick(utc(2026, 1, 14, 8))  # a digest (empty) on the 14th starts the window
    story = published(topic, utc(2026, 1, 14, 9))
    assert tick(utc(2026, 1, 15, 20, 5)).due == 0  # 12h05 late: not sent now
    tick(utc(2026, 1, 16, 8))
    assert [log.period for log in reader_log.order_by("period")] == [date(2026, 1, 14), date(2026, 1, 16)]
    assert items_sent(subscriber) == [[story.pk]]


def test_nothing_new_means_no_message_but_the_period_is_recorded(topic, email_channel, outbox):
    subscriber = reader(topic, hour=8)
    published(topic, utc(2026, 1, 1, 9))  # older than the subscriber's first window (one day)
    outcome = tick(utc(2026, 1, 15, 8))
    assert (outcome.due, outcome.sent, outcome.empty) == (1, 0, 1)
    assert not Send.objects.filter(kind="digest").exists() and outbox() == []
    assert DigestLog.objects.get(subscriber=subscriber).publication_ids == []


def test_each_digest_lists_only_what_was_published_since_the_last_one(topic, email_channel):
    subscriber = reader(topic, hour=8)
    monday = published(topic, utc(2026, 1, 12, 10))
    tick(utc(2026, 1, 13, 8))
    tuesday = published(topic, utc(2026, 1, 13, 10))
    tick(utc(2026, 1, 14, 8))
    tick(utc(2026, 1, 15, 8))  # nothing new
    assert items_sent(subscriber) == [[monday.pk], [tuesday.pk]]
    assert periods(subscriber) == [date(2026, 1, 13), date(2026, 1, 14), date(2026, 1, 15)]


def test_a_publication_published_during_a_run_is_in_the_next_digest_not_lost_nor_repeated(topic, email_channel):
    subscriber = reader(topic, hour=8)
    early = published(topic, utc(2026, 1, 15, 7, 59, 50))  # inside the grace period of the 08:00 run
    tick(utc(2026, 1, 15, 8))
    late = published(topic, utc(2026, 1, 15, 7, 59, 40))  # committed after the run had looked
    tick(utc(2026, 1, 16, 8))
    assert items_sent(subscriber) == [[early.pk], [late.pk]]


def test_weekly_digests_go_out_on_the_chosen_weekday_once_a_week(topic, email_channel):
    wednesday = reader(topic, frequency="weekly", hour=9, weekday=2)
    published(topic, utc(2026, 1, 12, 10))  # a Monday
    for now in ticks(utc(2026, 1, 12, 0), utc(2026, 1, 22, 0), timedelta(hours=1)):
        tick(now)
    logs = list(DigestLog.objects.filter(subscriber=wednesday).order_by("period"))
    assert [(log.period, log.scheduled_for) for log in logs] == [
        (date(2026, 1, 12), utc(2026, 1, 14, 9)),
        (date(2026, 1, 19), utc(2026, 1, 21, 9)),
    ]
    assert [len(log.publication_ids) for log in logs] == [1, 0]


def test_changing_the_weekday_mid_week_does_not_send_a_second_weekly_digest(topic, email_channel):
    subscriber = reader(topic, frequency="weekly", hour=9, weekday=0)
    tick(utc(2026, 1, 12, 9))  # Monday
    subscriber.digest_weekday = 3
    subscriber.save(update_fields=["digest_weekday"])
    tick(utc(2026, 1, 15, 9))  # Thursday of the same ISO week
    tick(utc(2026, 1, 22, 9))  # next Thursday
    assert periods(subscriber, "weekly") == [date(2026, 1, 12), date(2026, 1, 19)]


def test_a_subscriber_who_switches_from_daily_to_weekly_mid_period_gets_nothing_twice(topic, email_channel):
    subscriber = reader(topic, hour=8, weekday=0)
    first = published(topic, utc(2026, 1, 12, 10))  # Monday
    tick(utc(2026, 1, 13, 8))  # Tuesday's daily digest has it
    Subscription.objects.filter(subscriber=subscriber).update(frequency="weekly")
    second = published(topic, utc(2026, 1, 13, 10))
    for day in range(14, 20):
        tick(utc(2026, 1, day, 8))  # no more daily digests; the weekly one on Monday the 19th
    assert items_sent(subscriber) == [[first.pk], [second.pk]]
    assert periods(subscriber, "weekly") == [date(2026, 1, 19)]


def test_a_subscriber_who_switches_from_weekly_to_daily_gets_the_week_so_far(topic, email_channel):
    subscriber = reader(topic, frequency="weekly", hour=8, weekday=0)
    tick(utc(2026, 1, 12, 8))  # Monday: weekly digest (empty)
    pieces = [published(topic, utc(2026, 1, day, 10)) for day in (13, 14, 15)]
    Subscription.objects.filter(subscriber=subscriber).update(frequency="daily")
    tick(utc(2026, 1, 16, 8))  # Friday: the first daily digest covers Tuesday to Thursday
    assert sorted(items_sent(subscriber)[0]) == sorted(p.pk for p in pieces)


def test_daily_and_weekly_topics_make_separate_digests_and_a_shared_item_is_sent_once(email_channel):
    daily_topic, weekly_topic = TopicFactory(slug="daily-news"), TopicFactory(slug="weekly-roundup")
    subscriber = reader(daily_topic, hour=8, weekday=0)
    SubscriptionFactory(subscriber=subscriber, topic=weekly_topic, frequency="weekly")
    both = PublicationFactory(topics=[daily_topic, weekly_topic], published=True, published_at=utc(2026, 1, 14, 10))
    weekly_only = published(weekly_topic, utc(2026, 1, 14, 11))
    tick(utc(2026, 1, 15, 8))  # Thursday: daily
    tick(utc(2026, 1, 19, 8))  # Monday: daily (nothing new) and weekly
    assert items_sent(subscriber) == [[both.pk], [weekly_only.pk]]


def test_subscribers_who_must_not_be_mailed_get_no_digest(topic, email_channel):
    reader(topic, status="unsubscribed")
    reader(topic, paused_until=utc(2026, 2, 1))
    published(topic, utc(2026, 1, 14, 12))
    assert tick(utc(2026, 1, 15, 8)).due == 0


def test_items_are_ranked_and_cut_at_top_n(topic, email_channel, settings):
    settings.DIGEST_TOP_N = 2
    subscriber = reader(topic, hour=8)
    low = published(topic, utc(2026, 1, 14, 12), quality_score=0.1)
    high = published(topic, utc(2026, 1, 14, 12), quality_score=0.9)
    middle = published(topic, utc(2026, 1, 14, 12), quality_score=0.5)
    published(TopicFactory(slug="elsewhere"), utc(2026, 1, 14, 12), quality_score=1.0)
    tick(utc(2026, 1, 15, 8))
    assert items_sent(subscriber) == [[high.pk, middle.pk]]
    assert low.pk not in DigestLog.objects.get().publication_ids


def test_digest_links_are_tracked_and_resolve_to_the_items(topic, email_channel, settings):
    reader(topic, hour=8)
    story = published(topic, utc(2026, 1, 14, 12), canonical_url="https://blog.example.com/story")
    tick(utc(2026, 1, 15, 8))
    delivery = Delivery.objects.get()
    [row] = deliveries_rows(ids=[delivery.pk])[delivery.send_id]
    message = prepare(send=delivery.send, channel=email_channel).render(row)
    subject, html, text = message.template.render(message.variables)
    click = next(part.split('"')[0] for part in html.split('href="')[1:] if "/t/c/" in part)
    target = click_token_read(click.rsplit("/", 1)[1])
    assert target.delivery_id == delivery.pk
    assert delivery.send.content["links"][target.link_index] == "https://blog.example.com/story"
    assert story.title in text and "/t/o/" in html
    assert message.template.key == f"bulletin-send-{delivery.send_id}"  # one template per send: SES bulk


def test_digest_items_of_a_topic_without_tracking_link_straight_out(email_channel):
    private = TopicFactory(slug="private", tracking_enabled=False)
    reader(private, hour=8)
    published(private, utc(2026, 1, 14, 12), canonical_url="https://blog.example.com/quiet")
    tick(utc(2026, 1, 15, 8))
    delivery = Delivery.objects.get()
    [row] = deliveries_rows(ids=[delivery.pk])[delivery.send_id]
    message = prepare(send=delivery.send, channel=email_channel).render(row)
    _, html, _ = message.template.render(message.variables)
    assert 'href="https://blog.example.com/quiet"' in html and "/t/c/" not in html and "/t/o/" not in html


def test_no_email_channel_builds_nothing_and_leaves_periods_open(topic):
    reader(topic, hour=8)
    published(topic, utc(2026, 1, 14, 12))
    assert tick(utc(2026, 1, 15, 8)).due == 0
    assert not DigestLog.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_overlapping_runs_never_build_two_digests_for_one_period(topic, email_channel):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (SQLite serializes them anyway)")
    subscribers = [reader(topic, hour=8) for _ in range(30)]
    published(topic, utc(2026, 1, 14, 12))
    barrier, outcomes = threading.Barrier(3), []

    def run():
        try:
            barrier.wait()
            outcomes.append(digests_run(now=utc(2026, 1, 15, 8, 1)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(o.sent for o in outcomes) == 30
    assert DigestLog.objects.count() == 30
    assert Delivery.objects.filter(send__kind="digest").values("subscriber").distinct().count() == len(subscribers)
    assert Delivery.objects.filter(send__kind="digest").count() == 30


def _moves(subscriber, zone: str) -> None:
    subscriber.timezone = zone
    subscriber.save(update_fields=["timezone"])


def _sent_times(subscriber) -> list[datetime]:
    return list(
        DigestLog.objects.filter(subscriber=subscriber).order_by("created_at").values_list("created_at", flat=True)
    )


def _never_closer_than_20_hours(times: list[datetime]) -> None:
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert all(gap >= timedelta(hours=20) for gap in gaps), gaps


@pytest.mark.parametrize(
    ("old_zone", "new_zone", "moved_at"),
    [
        ("Pacific/Honolulu", "Asia/Tokyo", utc(2026, 1, 14, 20)),  # east across the date line: +19 hours
        ("Asia/Tokyo", "Pacific/Honolulu", utc(2026, 1, 15, 1)),  # west across it: -19 hours
        ("Pacific/Kiritimati", "Pacific/Pago_Pago", utc(2026, 1, 14, 20)),  # UTC+14 to UTC-11: a whole day back
        ("Pacific/Pago_Pago", "Pacific/Kiritimati", utc(2026, 1, 14, 20)),  # and forward
    ],
)
def test_moving_across_the_date_line_never_doubles_a_day_and_resumes_at_the_new_local_hour(
    topic, email_channel, old_zone, new_zone, moved_at
):
    """Issue 17: a period is a local date in the zone it was built for; two daily digests are
    never closer than 20 hours, and after the move one goes out per local date of the new zone."""
    subscriber = reader(topic, tz=old_zone, hour=8)
    for now in ticks(utc(2026, 1, 13, 0), utc(2026, 1, 18, 0), timedelta(minutes=30)):
        if now == moved_at:
            _moves(subscriber, new_zone)
        published(topic, now - timedelta(minutes=1))  # always something new: every due digest is sent
        tick(now)
    times = _sent_times(subscriber)
    _never_closer_than_20_hours(times)
    logs = list(DigestLog.objects.filter(subscriber=subscriber).values_list("period", "period_zone", "scheduled_for"))
    assert len({(period, zone) for period, zone, _ in logs}) == len(logs), "one per local date of its zone"
    after = [(period, at) for period, zone, at in logs if zone == new_zone]
    assert len(after) >= 2, logs
    for period, at in after:  # at 08:00 local in the new zone, on consecutive local dates
        local = at.astimezone(ZoneInfo(new_zone))
        assert (local.date(), local.time()) == (period, time(8))
    new_periods = sorted(period for period, _ in after)
    assert new_periods == [new_periods[0] + timedelta(days=i) for i in range(len(new_periods))]
    assert len(times) >= 4, "about one a day over five days, less at most the one the move costs"
