"""Delivery counts kept by PostgreSQL's statement triggers agree with counting the rows, through
every path that changes deliveries: fan-out, a repeated fan-out, claims, outcomes, requeues,
bulk updates, deletions, and compaction."""

import pytest
from django.db import connection
from django.db.models import Count

from channels_app.models import Delivery, DeliveryCount, Send
from channels_app.selectors import delivery_counts
from channels_app.services.counts import delivery_counts_compact
from channels_app.services.deliveries import deliveries_claim
from channels_app.services.sends import deliveries_requeue, send_progress
from publishing.services.fanout import send_materialize, send_start

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the count rows are kept by PostgreSQL triggers; other databases count deliveries directly",
)


def _truth(*sends: Send) -> list[tuple[int, int, str, int]]:
    rows = (
        Delivery.objects.filter(send__in=sends)
        .values_list("send_id", "channel_id", "state")
        .annotate(n=Count("*"))
        .order_by()
    )
    return sorted(rows)


def _sending(send: Send) -> Send:
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    send.refresh_from_db()
    return send


def test_counts_follow_a_send_through_every_state_change(outbox_channel, make_subscribers, make_send, settings):
    settings.DELIVERY_BATCH_SIZE = 3
    make_subscribers(8)
    send, other = _sending(make_send()), _sending(make_send(key="send-2"))
    assert send_materialize(send_id=send.pk) == 8
    Send.objects.filter(pk=send.pk).update(audience_ready=False)
    assert send_materialize(send_id=send.pk) == 0  # a repeated fan-out inserts nothing, counts nothing
    send_materialize(send_id=other.pk)
    assert delivery_counts(send_ids=[send.pk]) == _truth(send) == [(send.pk, outbox_channel.pk, "queued", 8)]

    ids = list(send.deliveries.order_by("pk").values_list("pk", flat=True))
    deliveries_claim(ids=ids[:3])
    assert delivery_counts(send_ids=[send.pk, other.pk]) == _truth(send, other)
    assert send_progress(send=send) | {"total": 8} == {
        **dict.fromkeys(Delivery.State.values, 0),
        "queued": 5,
        "sending": 3,
        "total": 8,
    }

    Delivery.objects.filter(pk__in=ids[:2]).update(state=Delivery.State.DEAD)
    Delivery.objects.filter(pk__in=ids[2:4]).update(attempts=2)  # no state change: no count row
    assert deliveries_requeue(deliveries=Delivery.objects.filter(pk=ids[0])) == 1
    assert delivery_counts(send_ids=[send.pk, other.pk]) == _truth(send, other)

    Delivery.objects.filter(pk=ids[-1]).delete()
    assert delivery_counts(send_ids=[send.pk]) == _truth(send)
    assert send_progress(send=send)["total"] == 7


def test_a_whole_send_through_the_pipeline_is_counted_exactly(
    outbox_channel, make_subscribers, make_send, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_BATCH_SIZE = 4
    make_subscribers(10)
    send = make_send()
    with django_capture_on_commit_callbacks(execute=True):
        send_start(send=send)
    assert delivery_counts(send_ids=[send.pk]) == _truth(send) == [(send.pk, outbox_channel.pk, "sent", 10)]


@on_postgresql
def test_compaction_folds_rows_keeps_every_total_and_drops_deleted_sends(outbox_channel, make_subscribers, make_send):
    make_subscribers(6)
    send, gone = _sending(make_send()), _sending(make_send(key="gone"))
    send_materialize(send_id=send.pk)
    send_materialize(send_id=gone.pk)
    for pk in send.deliveries.values_list("pk", flat=True):  # one statement each: many rows
        Delivery.objects.filter(pk=pk).update(state=Delivery.State.SENDING)
        Delivery.objects.filter(pk=pk).update(state=Delivery.State.SENT)
    before = delivery_counts(send_ids=[send.pk])
    assert DeliveryCount.objects.filter(send=send).count() == 1 + 6 * 4  # each update: -old +new
    gone.delete()

    # the deleted send: its +6 from the fan-out and the -6 its cascade appended
    assert delivery_counts_compact(fold_above=4) == {"folded": 1, "orphans": 2}
    assert delivery_counts(send_ids=[send.pk]) == before == _truth(send)
    assert list(DeliveryCount.objects.values_list("send_id", "state", "n")) == [(send.pk, "sent", 6)]
    assert delivery_counts_compact(fold_above=4) == {"folded": 0, "orphans": 0}


@on_postgresql
def test_compaction_leaves_quiet_sends_alone(outbox_channel, make_subscribers, make_send):
    make_subscribers(2)
    send = _sending(make_send())
    send_materialize(send_id=send.pk)
    rows = list(DeliveryCount.objects.values_list("pk", flat=True))
    assert delivery_counts_compact() == {"folded": 0, "orphans": 0}
    assert list(DeliveryCount.objects.values_list("pk", flat=True)) == rows
