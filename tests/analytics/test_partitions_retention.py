"""Retention of deliveries by whole months (PostgreSQL partitions): a month is dropped only once
its counts are in the rollups and its sends are finished, and reports still show it after."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection

from analytics.models import DailyRollup, DeliveryEngagement, EngagementEvent, HygieneAction
from analytics.services.events import DeliveryInfo, events_record
from analytics.services.partitions import EVENTS, partitions_maintain
from channels_app.models import Delivery, Send
from channels_app.partitions import DELIVERIES
from core.clock import clock
from core.partitioning import add_months, month_start, partition_name, partitions, partitions_ensure
from core.roles import Role
from tests.factories import SendFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's"),
]


def _send_of(month, status=Send.Status.COMPLETED) -> Send:
    send = SendFactory(status=status)
    Send.objects.filter(pk=send.pk).update(created_at=datetime.combine(month, time(8), UTC))
    send.refresh_from_db()
    return send


def _open(delivery: Delivery, at: datetime) -> None:
    info = DeliveryInfo(delivery.pk, delivery.send_id, delivery.channel_id, delivery.subscriber_id)
    event = EngagementEvent(delivery_id=delivery.pk, kind="open", occurred_at=at, dedupe_key=f"o{delivery.pk}")
    events_record(events=[event], deliveries={delivery.pk: info})


@pytest.fixture
def old_month():
    month = add_months(month_start(clock.now().date()), -3)
    partitions_ensure(DELIVERIES, since=month, through=month)
    partitions_ensure(EVENTS, since=month, through=month)
    return month


def test_a_dropped_month_of_deliveries_still_counts_in_the_analytics_api(
    old_month, make_sent, email_channel, client_for, settings
):
    settings.DELIVERY_RETENTION_MONTHS = 2
    old_send, recent_send = _send_of(old_month), _send_of(month_start(clock.now().date()))
    sent_at = datetime.combine(old_month + timedelta(days=9), time(9), UTC)
    old = make_sent(3, send=old_send, sent_at=sent_at)
    recent = make_sent(1, send=recent_send)
    _open(old[0], sent_at + timedelta(hours=2))
    HygieneAction.objects.create(email="a@example.com", kind="soft_bounce", reason="x", delivery=old[1])
    # No rollup ran yet: the retention rolls the month up itself before dropping it.

    result = partitions_maintain()

    assert result["dropped"] == [partition_name(DELIVERIES, old_month)]
    assert old_month not in partitions(DELIVERIES)
    assert not Delivery.objects.filter(send=old_send).exists()
    assert Delivery.objects.filter(pk=recent[0].pk).exists()  # this month is kept
    assert not DeliveryEngagement.objects.filter(pk=old[0].pk).exists()  # its first open went with it
    assert HygieneAction.objects.get().delivery_id is None  # the action stays, without its delivery
    cell = DailyRollup.objects.get(send=old_send, day=sent_at.date())
    assert (cell.sent, cell.opens, cell.unique_opens) == (3, 1, 1)
    day = sent_at.date().isoformat()
    report = client_for(Role.VIEWER).get(
        "/api/v1/publishing/analytics/engagement", {"start_date": day, "end_date": day}
    )
    assert report.status_code == 200, report.json()
    assert report.json()["totals"]["sent"] == 3 and report.json()["totals"]["unique_opens"] == 1


def test_a_month_whose_send_is_still_sending_is_kept(old_month, make_sent, settings):
    settings.DELIVERY_RETENTION_MONTHS = 1
    send = _send_of(old_month, status=Send.Status.SENDING)
    make_sent(2, send=send)
    Delivery.objects.filter(send=send).update(state=Delivery.State.QUEUED, sent_at=None)
    assert partition_name(DELIVERIES, old_month) not in partitions_maintain()["dropped"]
    assert Delivery.objects.filter(send=send).count() == 2


def test_deliveries_are_kept_forever_by_default(old_month, make_sent):
    make_sent(1, send=_send_of(old_month))
    assert partitions_maintain()["dropped"] == []
    assert old_month in partitions(DELIVERIES)
