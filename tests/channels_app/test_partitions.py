"""Deliveries and events partitioned by month (PostgreSQL): where rows land, dedupe, partitions
made ahead, and the hot queries' plans (index used, months pruned)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import Count, F

from analytics.models import EngagementEvent
from analytics.services.partitions import EVENTS, partitions_maintain
from channels_app.models import Delivery, DeliveryCount, Send
from channels_app.partitions import DELIVERIES
from channels_app.services.deliveries import _claim_sql, deliveries_create_from
from channels_app.services.sweeper import _needs_message
from core.clock import clock
from core.partitioning import add_months, is_partitioned, month_start, partition_name, partitions, partitions_ensure
from publishing.services.fanout import send_materialize
from subscribers.models import Subscriber
from tests.factories import DeliveryFactory, EngagementEventFactory, SendFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's"),
]


def _partition_of(model, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def _sent_in(send: Send, when: datetime) -> Send:
    Send.objects.filter(pk=send.pk).update(created_at=when, status=Send.Status.SENDING)
    send.refresh_from_db()
    return send


def test_both_tables_are_partitioned_with_this_month_and_a_default():
    for spec in (DELIVERIES, EVENTS):
        assert is_partitioned(spec.table)
        assert month_start(clock.now().date()) in partitions(spec)
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [f"{spec.table}_default"])
            assert cursor.fetchone()[0] is not None


def test_every_delivery_of_a_send_is_in_its_sends_month(outbox_channel, make_subscribers, make_send):
    make_subscribers(3)
    send = _sent_in(make_send(), clock.now())
    send_materialize(send_id=send.pk)
    months = {_partition_of(Delivery, d.pk) for d in Delivery.objects.filter(send=send)}
    assert months == {partition_name(DELIVERIES, send.delivery_period)}
    assert set(Delivery.objects.filter(send=send).values_list("period", flat=True)) == {send.delivery_period}


def test_materializing_again_creates_no_second_delivery_even_in_a_later_month(
    outbox_channel, make_subscribers, make_send, clock
):
    make_subscribers(4)
    send = _sent_in(make_send(), datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    recipients = Subscriber.objects.annotate(address=F("email"))
    assert len(deliveries_create_from(send=send, channel=outbox_channel, recipients=recipients)) == 4
    clock.advance(3600)  # the fan-out retried after midnight: December, same send
    assert deliveries_create_from(send=send, channel=outbox_channel, recipients=recipients) == []
    assert Delivery.objects.filter(send=send).count() == 4


def test_a_delivery_of_a_month_without_partition_waits_in_default_and_moves_when_it_is_created():
    send = _sent_in(SendFactory(), datetime(2031, 5, 17, tzinfo=UTC))
    delivery = DeliveryFactory(send=send)
    assert delivery.period == date(2031, 5, 1)
    assert _partition_of(Delivery, delivery.pk) == "channels_app_delivery_default"
    counted = sum(DeliveryCount.objects.filter(send=send).values_list("n", flat=True))

    assert partitions_ensure(DELIVERIES, since=date(2031, 5, 1), through=date(2031, 6, 1)) == [
        "channels_app_delivery_p2031_05",
        "channels_app_delivery_p2031_06",
    ]
    assert _partition_of(Delivery, delivery.pk) == "channels_app_delivery_p2031_05"
    assert sum(DeliveryCount.objects.filter(send=send).values_list("n", flat=True)) == counted == 1


def test_beat_creates_the_coming_months_ahead(settings, clock):
    settings.PARTITION_MONTHS_AHEAD = 2
    clock.advance(200 * 86400)
    this_month = month_start(clock.now().date())
    created = partitions_maintain()["created"]
    for month in (this_month, add_months(this_month, 1), add_months(this_month, 2)):
        assert month in partitions(DELIVERIES) and month in partitions(EVENTS)
        assert partition_name(DELIVERIES, month) in created or month in partitions(DELIVERIES)
    assert partitions_maintain()["created"] == []  # idempotent


def test_setup_periodic_tasks_schedules_the_partitions_daily():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_periodic_tasks")
    task = PeriodicTask.objects.get(task="analytics.tasks.partitions_maintain_task")
    assert task.enabled and task.crontab is not None and task.queue == "default"


# --- The hot queries' plans. Test tables are tiny, where a sequential scan is cheapest, so the
# planner is told to avoid one (enable_seqscan=off): the question is whether an index serves
# the query, and which partitions it reads.


def _plan(sql: str, params=()) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_seqscan = on")
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, stack = [], [plan[0]["Plan"]]
    while stack:
        node = stack.pop()
        nodes.append(node)
        stack.extend(node.get("Plans", []))
    return nodes


def _scans(nodes, table_prefix: str) -> list[tuple[str, str, str]]:
    """(node type, relation, index) of every scan of the table's partitions; a bitmap scan
    names the indexes of its Bitmap Index Scans."""
    scans = []
    for node in nodes:
        relation = node.get("Relation Name", "")
        if not relation.startswith(table_prefix):
            continue
        index = node.get("Index Name", "")
        if node["Node Type"] == "Bitmap Heap Scan":
            children, stack = [], list(node.get("Plans", []))
            while stack:
                child = stack.pop()
                children.append(child.get("Index Name", ""))
                stack.extend(child.get("Plans", []))
            index = " ".join(sorted(name for name in children if name))
        scans.append((node["Node Type"], relation, index))
    return scans


def _queryset_plan(queryset) -> list[dict]:
    sql, params = queryset.query.sql_with_params()
    return _plan(sql, params)


@pytest.fixture
def months_of_deliveries(outbox_channel):
    """Deliveries in three months, so pruning shows."""
    this_month = month_start(clock.now().date())
    partitions_ensure(DELIVERIES, since=add_months(this_month, -2), through=this_month)
    partitions_ensure(EVENTS, since=add_months(this_month, -2), through=this_month)
    sends = []
    for back in (2, 1, 0):
        send = _sent_in(SendFactory(), datetime.combine(add_months(this_month, -back), datetime.min.time(), UTC))
        delivery = DeliveryFactory(send=send, channel=outbox_channel, provider_message_id=f"m-{back}")
        EngagementEventFactory(delivery=delivery, occurred_at=send.created_at + timedelta(hours=1))
        sends.append(send)
    return sends


@pytest.fixture
def send_in_flight(months_of_deliveries, outbox_channel):
    """A send in full flight, its month's partition freshly filled and never analyzed (as in a
    fan-out): 5,000 queued deliveries, the first 30 of them claimed."""
    send = months_of_deliveries[-1]
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO channels_app_delivery (send_id, period, channel_id, recipient_key, recipient, state, "
            "attempts, last_error, provider_message_id, lease_token, created_at, updated_at) "
            "SELECT %s, %s, %s, 1000000 + g, '', 'queued', 0, '', '', '', now(), now() FROM generate_series(1, 5000) g",
            [send.pk, send.delivery_period, outbox_channel.pk],
        )
    ids = list(Delivery.objects.filter(send=send).order_by("pk").values_list("pk", flat=True)[:30])
    Delivery.objects.filter(pk__in=ids).update(state=Delivery.State.SENDING, lease_token="token")
    return ids


def test_the_claim_finds_deliveries_by_id_in_each_month(send_in_flight):
    # Not walked from the send by (send, state), nor over a whole partial index of queued rows.
    sql, params = _claim_sql(send_in_flight, "token")
    scans = _scans(_plan(sql, params), "channels_app_delivery")
    assert scans and all(kind != "Seq Scan" for kind, _, _ in scans), scans
    assert any(index.endswith(("_pkey", "_id")) for _, _, index in scans), scans
    assert not any("send_id" in index for _, _, index in scans), scans


def test_every_partition_knows_an_id_is_one_row():
    """The primary key is (id, period), so without statistics (a month just filled by a fan-out)
    the planner could not tell that `id = x` is one row, and chose to scan whole partial indexes
    for the pipeline's updates by id (_mark_sent: 16x slower on a fresh 100,000-row month in the
    benchmark). Each partition has its own unique index on id."""
    for spec in (DELIVERIES, EVENTS):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname, bool_or(x.indisunique AND x.indnatts = 1 AND a.attname = 'id') "
                "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indrelid = c.oid "
                "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = x.indkey[0] "
                "WHERE i.inhparent = to_regclass(%s) GROUP BY c.relname",
                [spec.table],
            )
            found = dict(cursor.fetchall())
        assert found and all(found.values()), found


def _sweeper_queued(now):
    return Delivery.objects.filter(_needs_message(now), state=Delivery.State.QUEUED, send__status="sending")


@pytest.mark.parametrize(
    "query, columns",
    [
        # Queued rows of sending sends: the partial indexes of queued rows, or (send, state) from
        # each sending send, as the statistics make cheaper; both read only queued rows.
        (_sweeper_queued, ("next_attempt_at", "enqueued_at", "send_id_state")),
        (lambda now: Delivery.objects.filter(state="sending", lease_expires_at__lt=now), ("lease_expires_at",)),
        (
            lambda now: Delivery.objects.filter(provider_message_id="m-1").exclude(provider_message_id=""),
            ("provider_message_id",),
        ),
    ],
    ids=["sweeper-queued-work", "sweeper-expired-leases", "feedback-provider-message-id"],
)
def test_the_sweeper_and_feedback_lookups_use_their_partial_indexes(months_of_deliveries, query, columns):
    scans = _scans(_queryset_plan(query(clock.now())), "channels_app_delivery")
    assert len({relation for _, relation, _ in scans}) >= 3, scans  # no time bound: every month
    assert all(kind != "Seq Scan" and any(c in index for c in columns) for kind, _, index in scans), scans


def test_counting_a_sends_deliveries_reads_only_its_month(months_of_deliveries):
    send = months_of_deliveries[0]
    counts = (
        Delivery.objects.filter(send=send, period=send.delivery_period)
        .values("state", "channel_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    scans = _scans(_queryset_plan(counts), "channels_app_delivery")
    assert {relation for _, relation, _ in scans} == {partition_name(DELIVERIES, send.delivery_period)}
    assert all("send_id" in index or "send_state_channel" in index for _, _, index in scans), scans


def test_a_subscribers_recent_events_read_only_the_recent_months(months_of_deliveries):
    since = clock.now() - timedelta(days=1)
    recent = EngagementEvent.objects.filter(occurred_at__gte=since, delivery__subscriber_id=1)
    read = {relation for _, relation, _ in _scans(_queryset_plan(recent), "analytics_engagementevent")}
    older = {partition_name(EVENTS, month) for month in partitions(EVENTS) if add_months(month, 1) <= since.date()}
    assert len(older) >= 2 and partition_name(EVENTS, month_start(since.date())) in read
    assert not read & older, read
