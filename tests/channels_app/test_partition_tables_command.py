"""`manage.py partition_tables` on a copy of a large install: the plain tables `migrate` leaves
when they are too big to convert in the migration (docs/partitioning.md) are filled, converted
while writes keep coming, and every row, constraint, index and trigger survives; the app works after."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import F

from analytics.models import EngagementEvent
from analytics.services.events import DeliveryInfo, events_record
from analytics.services.partitions import EVENTS
from channels_app.models import Delivery, DeliveryCount, Send
from channels_app.partitions import DELIVERIES
from channels_app.services.deliveries import deliveries_claim, deliveries_create_from
from core.partition_convert import partition_convert
from core.partitioning import is_partitioned
from subscribers.models import Subscriber
from tests.factories import ChannelFactory, SendFactory, SubscriberFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="partitions are PostgreSQL's"),
]
PLACEHOLDER = date(1970, 1, 1)  # the period `migrate` gives a large table's existing rows


def _definitions(cursor, table: str) -> dict:
    cursor.execute(
        "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
        "AND contype IN ('u', 'f')",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(x.indexrelid) FROM pg_index x WHERE x.indrelid = to_regclass(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)",
        [table],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal", [table]
    )
    return {"constraints": constraints, "indexes": indexes, "triggers": [row[0] for row in cursor.fetchall()]}


def _as_large_install_left_it(table: str, key: str, unique_name: str, old_unique: str) -> None:
    """The table as an install upgraded with more than PARTITION_INLINE_MAX_ROWS rows has it:
    plain, primary key (id), its unique constraint without the partition key, same indexes,
    foreign keys and triggers."""
    with connection.cursor() as cursor:
        found = _definitions(cursor, table)
        cursor.execute(
            f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)"
        )
        cursor.execute(f"DROP TABLE {table} CASCADE")
        cursor.execute(f"ALTER TABLE {table}_plain RENAME TO {table}")
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY (id)")
        for name, kind, definition in found["constraints"]:
            if kind == "u":
                name, definition = old_unique, definition.replace(f", {key})", ")")
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
        for definition in found["indexes"]:
            cursor.execute(definition.replace(" ON ONLY ", " ON "))
        for definition in found["triggers"]:
            cursor.execute(definition)
    assert not is_partitioned(table) and old_unique != unique_name


@pytest.fixture
def large_install():
    _as_large_install_left_it(DELIVERIES.table, "period", "delivery_unique_per_recipient", "delivery_unique_old")
    _as_large_install_left_it(EVENTS.table, "occurred_at", "event_dedupe_unique", "analytics_event_dedupe_key_uniq")
    channel = ChannelFactory(kind="email", is_default=True)
    subscribers = [SubscriberFactory() for _ in range(5)]
    sends = []
    for created in (datetime(2026, 9, 14, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC)):
        send = SendFactory(status=Send.Status.SENDING)
        Send.objects.filter(pk=send.pk).update(created_at=created)
        send.refresh_from_db()
        sends.append(send)
        with connection.cursor() as cursor:  # written by the code before the upgrade: no period of its own
            cursor.execute(
                "INSERT INTO channels_app_delivery (send_id, period, channel_id, subscriber_id, recipient_key, "
                "recipient, state, attempts, last_error, provider_message_id, lease_token, created_at, updated_at) "
                "SELECT %s, %s, %s, id, id, email, 'sent', 1, '', 'msg-' || id, '', now(), now() "
                "FROM subscribers_subscriber",
                [send.pk, PLACEHOLDER, channel.pk],
            )
    for delivery in Delivery.objects.filter(send=sends[0]):
        info = DeliveryInfo(delivery.pk, delivery.send_id, delivery.channel_id, delivery.subscriber_id)
        event = EngagementEvent(
            delivery_id=delivery.pk,
            kind="open",
            occurred_at=datetime(2026, 9, 15, tzinfo=UTC),
            dedupe_key=f"o{delivery.pk}",
        )
        with transaction.atomic():  # as every caller does (the COPY's temp table lives until commit)
            events_record(events=[event], deliveries={delivery.pk: info})
    return channel, subscribers, sends


def _rows(model, *fields):
    return sorted(model.objects.values_list("pk", *fields))


def test_the_command_partitions_both_tables_keeping_every_row_and_constraint(large_install):
    channel, subscribers, sends = large_install
    deliveries = _rows(Delivery, "send_id", "channel_id", "recipient_key", "state", "provider_message_id")
    events = _rows(EngagementEvent, "delivery_id", "kind", "occurred_at", "dedupe_key")
    assert len(deliveries) == 10 and len(events) == 5
    with connection.cursor() as cursor:
        plain = {spec.table: _definitions(cursor, spec.table) for spec in (DELIVERIES, EVENTS)}

    call_command("partition_tables", copy_batch=3)

    assert is_partitioned(DELIVERIES.table) and is_partitioned(EVENTS.table)
    assert _rows(Delivery, "send_id", "channel_id", "recipient_key", "state", "provider_message_id") == deliveries
    assert _rows(EngagementEvent, "delivery_id", "kind", "occurred_at", "dedupe_key") == events
    periods = dict(Delivery.objects.values_list("send_id", "period").distinct())
    assert periods == {sends[0].pk: date(2026, 9, 1), sends[1].pk: date(2026, 11, 1)}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT tableoid::regclass::text FROM channels_app_delivery WHERE send_id = %s", [sends[0].pk]
        )
        assert cursor.fetchall() == [("channels_app_delivery_p2026_09",)]
        delivery = _definitions(cursor, DELIVERIES.table)
        event = _definitions(cursor, EVENTS.table)
    unique = {name: definition for name, kind, definition in delivery["constraints"] if kind == "u"}
    assert unique == {"delivery_unique_per_recipient": "UNIQUE (send_id, channel_id, recipient_key, period)"}
    assert {name for name, kind, _ in event["constraints"] if kind == "u"} == {"event_dedupe_unique"}
    for table, now in ((DELIVERIES.table, delivery), (EVENTS.table, event)):  # foreign keys, as they were
        assert sorted(c for c in now["constraints"] if c[1] == "f") == sorted(
            c for c in plain[table]["constraints"] if c[1] == "f"
        )
    assert any("delivery_send_state_channel" in d for d in delivery["indexes"])
    assert any("delivery_provider_id" in d for d in delivery["indexes"])
    assert len(delivery["triggers"]) == 3  # the delivery counts' statement triggers


def test_the_app_works_on_the_converted_tables(large_install):
    channel, subscribers, sends = large_install
    call_command("partition_tables")
    before = max(Delivery.objects.values_list("pk", flat=True))
    recipients = Subscriber.objects.annotate(address=F("email"))
    # A repeated fan-out of an old send creates nothing; a new subscriber gets one delivery.
    assert deliveries_create_from(send=sends[1], channel=channel, recipients=recipients) == []
    newcomer = SubscriberFactory()
    [new_id] = deliveries_create_from(send=sends[1], channel=channel, recipients=recipients)
    assert new_id > before  # the id sequence went on from the old table's
    assert Delivery.objects.get(pk=new_id).period == date(2026, 11, 1)
    assert Delivery.objects.get(pk=new_id).subscriber_id == newcomer.pk
    assert deliveries_claim(ids=[new_id]).ids == [new_id]
    # The counts' statement triggers came along: the claim's queued -> sending is counted.
    assert sum(DeliveryCount.objects.filter(send=sends[1], state="sending").values_list("n", flat=True)) == 1
    # A replayed event (same key, same time) is recorded once.
    delivery = Delivery.objects.filter(send=sends[0]).first()
    info = DeliveryInfo(delivery.pk, delivery.send_id, delivery.channel_id, delivery.subscriber_id)
    replay = EngagementEvent(
        delivery_id=delivery.pk,
        kind="open",
        occurred_at=datetime(2026, 9, 15, tzinfo=UTC),
        dedupe_key=f"o{delivery.pk}",
    )
    with transaction.atomic():
        events_record(events=[replay], deliveries={delivery.pk: info})
    assert EngagementEvent.objects.filter(dedupe_key=f"o{delivery.pk}").count() == 1


def test_writes_during_the_copy_reach_the_partitioned_table(large_install):
    channel, subscribers, sends = large_install
    ids = sorted(Delivery.objects.values_list("pk", flat=True))
    changes = iter(
        [
            lambda: Delivery.objects.filter(pk=ids[-1]).update(state=Delivery.State.DELIVERED),  # not copied yet
            lambda: Delivery.objects.filter(pk=ids[-2]).delete(),
            lambda: Delivery.objects.create(send=sends[0], channel=channel, recipient_key=0),
        ]
    )

    def write_between_batches(copied: int) -> None:
        change = next(changes, None)
        if change:
            change()

    partition_convert(DELIVERIES, batch=2, progress=write_between_batches)

    assert is_partitioned(DELIVERIES.table)
    assert Delivery.objects.get(pk=ids[-1]).state == Delivery.State.DELIVERED
    assert not Delivery.objects.filter(pk=ids[-2]).exists()
    broadcast = Delivery.objects.get(send=sends[0], recipient_key=0)
    assert broadcast.period == date(2026, 9, 1)
    assert Delivery.objects.count() == len(ids)  # one deleted, one created


class Interrupted(Exception):
    pass


def test_an_interrupted_conversion_leaves_the_app_writing_and_runs_again(large_install):
    channel, subscribers, sends = large_install
    before = _rows(Delivery, "send_id", "recipient_key", "state")

    def stop(copied: int) -> None:
        raise Interrupted  # the command killed after its first batch

    with pytest.raises(Interrupted):
        partition_convert(DELIVERIES, batch=3, progress=stop)
    assert not is_partitioned(DELIVERIES.table)
    late = Delivery.objects.create(send=sends[1], channel=channel, recipient_key=0)  # the app keeps writing

    call_command("partition_tables", table=[DELIVERIES.table])

    assert is_partitioned(DELIVERIES.table)
    assert _rows(Delivery, "send_id", "recipient_key", "state") == sorted(
        [*before, (late.pk, sends[1].pk, 0, "queued")]
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('channels_app_delivery_partitioned')")
        assert cursor.fetchone()[0] is None
