"""Daily rollups: right counts, unique opens on the first day, incremental, idempotent, kept
after raw events expire."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from analytics.models import DailyRollup, EngagementEvent, LinkRollup, RollupDirtyCell, SendTopic
from analytics.services.ingest import Hit, tracking_hits_store
from analytics.services.rollups import events_purge, rollups_update
from channels_app.models import Channel, Delivery, Send
from subscribers.models import ConsentRecord
from tests.factories import (
    ChannelFactory,
    ConsentRecordFactory,
    EngagementEventFactory,
    PublicationFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
DAY1 = datetime(2026, 11, 20, 9, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)


def _hit(delivery, kind, at, agent=BROWSER, link=None):
    extra = {"send_id": delivery.send_id, "link_index": link} if kind == "click" else {}
    return Hit(kind, delivery.pk, at.timestamp(), agent, False, uuid.uuid4().hex, **extra)


@pytest.fixture
def publication_send(db):
    topic = TopicFactory(slug="engineering")
    publication = PublicationFactory(topics=[topic], state="published", published_at=DAY1 - timedelta(minutes=1))
    send = Send.objects.create(
        key="p1",
        kind="alert",
        status="sending",
        publication=publication,
        content={"links": ["https://e.x/a", "https://e.x/b"]},
    )
    return send, topic


def _cell(send, channel, day):
    return DailyRollup.objects.get(send=send, channel=channel, day=day.date())


def test_a_day_of_feedback_rolls_up_into_counts_rates_and_uniques(make_sent, publication_send, email_channel):
    send, topic = publication_send
    a, b, c = make_sent(3, send=send, sent_at=DAY1 - timedelta(seconds=20))
    tracking_hits_store(
        hits=[
            _hit(a, "open", DAY1),
            _hit(a, "open", DAY1 + timedelta(hours=1)),
            _hit(b, "open", DAY1, agent="Mozilla/5.0"),  # Apple MPP: machine
            _hit(a, "click", DAY1 + timedelta(hours=2), link=1),
            _hit(a, "click", DAY1 + timedelta(hours=3), link=1),
            _hit(c, "click", DAY1 + timedelta(hours=3), link=0),
        ]
    )
    EngagementEventFactory(delivery=b, kind="bounce", occurred_at=DAY1, metadata={"bounce_type": "hard"})
    EngagementEventFactory(delivery=c, kind="bounce", occurred_at=DAY1, metadata={"bounce_type": "soft"})
    EngagementEventFactory(delivery=a, kind="delivered", occurred_at=DAY1)
    EngagementEventFactory(delivery=a, kind="complaint", occurred_at=DAY1)
    rollups_update()
    row = _cell(send, email_channel, DAY1)
    assert (row.sent, row.delivered, row.opens, row.machine_opens, row.unique_opens) == (3, 1, 2, 1, 1)
    assert (row.clicks, row.unique_clickers, row.hard_bounces, row.soft_bounces, row.complaints) == (3, 2, 1, 1, 1)
    assert row.publication_id == send.publication_id
    assert row.latency_buckets == {"60": 3}  # published 60 s before DAY1, handed over 40 s later
    links = {(link.url, link.clicks) for link in LinkRollup.objects.all()}
    assert links == {("https://e.x/b", 2), ("https://e.x/a", 1)}
    assert list(SendTopic.objects.values_list("topic_id", flat=True)) == [topic.pk]
    assert not RollupDirtyCell.objects.exists()


def test_a_second_open_on_another_day_is_not_a_second_unique(make_sent, publication_send, email_channel):
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=DAY1)
    tracking_hits_store(hits=[_hit(delivery, "open", DAY1 + timedelta(minutes=5))])
    rollups_update()
    tracking_hits_store(hits=[_hit(delivery, "open", DAY2)])
    rollups_update()
    assert _cell(send, email_channel, DAY1).unique_opens == 1
    day2 = _cell(send, email_channel, DAY2)
    assert (day2.opens, day2.unique_opens) == (1, 0)


def test_an_earlier_open_arriving_late_moves_the_unique_to_its_day(make_sent, publication_send, email_channel):
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=DAY1)
    tracking_hits_store(hits=[_hit(delivery, "open", DAY2)])
    rollups_update()
    assert _cell(send, email_channel, DAY2).unique_opens == 1
    tracking_hits_store(hits=[_hit(delivery, "open", DAY1 + timedelta(hours=1))])
    rollups_update()
    assert (_cell(send, email_channel, DAY1).unique_opens, _cell(send, email_channel, DAY2).unique_opens) == (1, 0)


def test_running_the_rollup_again_changes_nothing(make_sent, publication_send, email_channel):
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=DAY1)
    tracking_hits_store(hits=[_hit(delivery, "open", DAY1)])
    rollups_update()
    before = list(DailyRollup.objects.values())
    RollupDirtyCell.objects.create(
        day=DAY1.date(), send_id=send.pk, channel_id=email_channel.pk, touched_at=timezone.now()
    )
    rollups_update()
    after = list(DailyRollup.objects.values())
    for row in before + after:
        row.pop("updated_at")
    assert before == after


def test_only_touched_cells_are_recomputed(make_sent, publication_send, email_channel, settings):
    settings.ANALYTICS_SCAN_OVERLAP_SECONDS = 0
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=DAY1)
    rollups_update()
    DailyRollup.objects.update(opens=99)  # would be overwritten if recomputed
    tracking_hits_store(hits=[_hit(delivery, "open", DAY2)])
    assert list(RollupDirtyCell.objects.values_list("day", flat=True)) == [DAY2.date()]
    rollups_update()
    assert _cell(send, email_channel, DAY1).opens == 99 and _cell(send, email_channel, DAY2).opens == 1


def test_slack_messages_count_as_delivered_when_handed_over(make_sent, publication_send):
    send, _ = publication_send
    slack = ChannelFactory(kind="slack", audience=Channel.Audience.BROADCAST, config={"channel": "C1"})
    make_sent(1, send=send, channel=slack, subscriber=None, sent_at=DAY1)
    rollups_update()
    row = _cell(send, slack, DAY1)
    assert (row.sent, row.delivered, row.channel_kind) == (1, 1, "slack")


def test_failed_and_dead_deliveries_count_on_the_day_they_gave_up(make_sent, publication_send, email_channel):
    send, _ = publication_send
    failed, dead = make_sent(2, send=send, sent_at=None, state=Delivery.State.FAILED)
    Delivery.objects.filter(pk=dead.pk).update(state=Delivery.State.DEAD)
    rollups_update()
    assert _cell(send, email_channel, timezone.now()).failed == 2


def test_an_unsubscribe_is_attributed_to_the_last_message_before_it(make_sent, publication_send, email_channel):
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=timezone.now() - timedelta(hours=2))
    record = ConsentRecordFactory(subscriber=delivery.subscriber, action=ConsentRecord.Action.UNSUBSCRIBED)
    rollups_update()
    rollups_update()
    [event] = EngagementEvent.objects.filter(kind="unsubscribe")
    assert event.delivery_id == delivery.pk and event.dedupe_key == f"consent:{record.pk}"
    assert _cell(send, email_channel, record.created_at).unsubscribes == 1


def test_old_raw_events_are_deleted_and_their_rollups_kept(make_sent, publication_send, email_channel, settings):
    send, _ = publication_send
    [delivery] = make_sent(send=send, sent_at=DAY1)
    old = timezone.now() - timedelta(days=31)
    tracking_hits_store(hits=[_hit(delivery, "open", old), _hit(delivery, "open", timezone.now())])
    rollups_update()  # rolled up while they were recent
    settings.ANALYTICS_EVENT_RETENTION_DAYS = 30
    assert events_purge() == 1
    assert EngagementEvent.objects.count() == 1
    assert DailyRollup.objects.get(day=old.date()).opens == 1
    tracking_hits_store(hits=[_hit(delivery, "open", old + timedelta(minutes=1))])  # a straggler
    rollups_update()
    assert DailyRollup.objects.get(day=old.date()).opens == 1  # past the horizon: frozen, not recounted to 1 of 2
