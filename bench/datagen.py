"""Reproducible datasets for every benchmark, built fast with PostgreSQL COPY (fixed seed).

subscribers(n)       n active subscribers, each subscribed to `topic` (instant email)
                     (`attributes`: a function of the seeded generator giving each one's attributes)
events(n, days)      n engagement events over the last `days` days on existing deliveries
events_copy(n)       n engagement events straight into the table by COPY, and the per-subscriber
                     summaries (last human open and click) derived from them in SQL
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

SEED = 20261123
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Radia", "Ken", "Frances", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Perlman", "Thompson"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"]


def subscribers(
    n: int,
    *,
    topic_id: int,
    seed: int = SEED,
    frequency: str = "instant",
    attributes: Callable[[random.Random], dict] | None = None,
    score: Callable[[random.Random], float] | None = None,
) -> int:
    """Insert n active subscribers with an email subscription to the topic; returns n.
    `attributes` and `score` draw each one's attributes and engagement score (default: none, 0-1)."""
    from django.db import connection

    rng = random.Random(seed)
    now = datetime.now(UTC)
    columns = (
        "email",
        "name",
        "status",
        "timezone",
        "locale",
        "attributes",
        "digest_hour",
        "digest_weekday",
        "slack_member_id",
        "webhook_url",
        "engagement_score",
        "token_version",
        "source",
        "created_at",
        "updated_at",
        "confirmed_at",
    )
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY subscribers_subscriber ({', '.join(columns)}) FROM STDIN") as copy:
            for i in range(n):
                name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                created = now - timedelta(days=rng.randint(0, 720))
                copy.write_row(
                    (
                        f"reader{i:07d}@bench.example.com",
                        name,
                        "active",
                        rng.choice(ZONES),
                        "en",
                        json.dumps(attributes(rng)) if attributes else "{}",
                        rng.choice([7, 8, 9, 17]),
                        0,
                        "",
                        "",
                        round(score(rng) if score else rng.random(), 3),
                        1,
                        "bench",
                        created,
                        now,
                        created,
                    )
                )
        cursor.execute(
            "INSERT INTO subscribers_subscription "
            "(subscriber_id, topic_id, channel_kind, frequency, created_at, updated_at) "
            "SELECT id, %s, 'email', %s, now(), now() FROM subscribers_subscriber WHERE source = 'bench'",
            [topic_id, frequency],
        )
        cursor.execute("ANALYZE subscribers_subscriber; ANALYZE subscribers_subscription")
    return n


def slack_members(n: int, *, topic_id: int) -> list[str]:
    """n active subscribers with a Slack member ID and an instant Slack subscription to the topic
    (and no email one); returns their member IDs."""
    from subscribers.models import Subscriber, Subscription

    members = [f"U0BENCH{i:06d}" for i in range(n)]
    rows = Subscriber.objects.bulk_create(
        Subscriber(
            email=f"member{i:06d}@bench.example.com",
            name=f"Member {i}",
            status=Subscriber.Status.ACTIVE,
            slack_member_id=member,
            source="bench-slack",
            confirmed_at=datetime.now(UTC),
        )
        for i, member in enumerate(members)
    )
    Subscription.objects.bulk_create(
        Subscription(subscriber=row, topic_id=topic_id, channel_kind="slack", frequency="instant") for row in rows
    )
    return members


def deliveries_for(
    *,
    send_id: int,
    channel_id: int,
    days: int = 30,
    seed: int = SEED,
    state: str = "delivered",
    sent_at: datetime | None = None,
) -> int:
    """One delivery in `state` per bench subscriber for the send, handed over at `sent_at`, or
    (by default) at reproducible times spread over the last `days`."""
    from django.db import connection

    from channels_app.partitions import PERIOD_OF_SEND_SQL

    sent = "%s::timestamptz" if sent_at else "now() - ((id * %s) %% %s) * interval '1 second'"
    sent_params = [sent_at] if sent_at else [seed % 7919 + 7919, days * 86400]
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO channels_app_delivery (send_id, period, channel_id, subscriber_id, recipient_key, recipient, "
            "state, attempts, last_error, provider_message_id, lease_token, created_at, updated_at, sent_at) "
            f"SELECT %s, {PERIOD_OF_SEND_SQL.format(send_id='%s')}, %s, id, id, email, %s, 1, '', 'bench-' || id, '', "
            f"sent, now(), sent FROM (SELECT id, email, {sent} AS sent"
            "  FROM subscribers_subscriber WHERE source = 'bench') AS s ORDER BY id",
            [send_id, send_id, channel_id, state, *sent_params],
        )
        return cursor.rowcount


def events(n: int, *, send_id: int, channel_id: int, days: int = 30, seed: int = SEED, chunk: int = 50_000) -> int:
    """n engagement events (opens 60%, clicks 25%, delivered 12%, bounces 2%, complaints 1%,
    a tenth of opens by machines) on the send's deliveries, spread over the last `days`,
    written through analytics' own bulk path so summaries and rollup marks are right."""
    from analytics.models import EngagementEvent
    from analytics.services.events import DeliveryInfo, events_record
    from channels_app.models import Delivery

    rng = random.Random(seed)
    rows = list(Delivery.objects.filter(send_id=send_id).values_list("pk", "subscriber_id"))
    infos = {pk: DeliveryInfo(pk, send_id, channel_id, sub) for pk, sub in rows}
    now = datetime.now(UTC)
    kinds = [("open", 60), ("click", 25), ("delivered", 12), ("bounce", 2), ("complaint", 1)]
    population = [k for k, weight in kinds for _ in range(weight)]
    written = 0
    from django.db import transaction

    while written < n:
        batch = []
        for _ in range(min(chunk, n - written)):
            pk, _sub = rows[rng.randrange(len(rows))]
            kind = rng.choice(population)
            metadata = {"link": f"https://bulletin.example.com/articles/{rng.randrange(5)}"} if kind == "click" else {}
            if kind == "bounce":
                metadata = {"bounce_type": rng.choice(["Permanent", "Transient"])}
            batch.append(
                EngagementEvent(
                    delivery_id=pk,
                    kind=kind,
                    occurred_at=now - timedelta(seconds=rng.randrange(days * 86400)),
                    is_machine=kind == "open" and rng.random() < 0.1,
                    metadata=metadata,
                    dedupe_key=f"bench:{seed}:{written + len(batch)}",
                )
            )
        with transaction.atomic():
            events_record(events=batch, deliveries=infos)
        written += len(batch)
    return written


def events_copy(
    n: int, *, delivery_ids: Sequence[tuple[int, int]], days: int = 120, seed: int = SEED, now: datetime | None = None
) -> int:
    """n events (opens 60%, clicks 25%, delivered 12%, bounces 2%, complaints 1%; a tenth of
    opens by machines) on deliveries whose ids lie in the given [first, last] ranges, over the
    last `days`, by COPY; then SubscriberEngagement (last human open and click) from them."""
    from django.db import connection

    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    kinds = [
        k
        for k, weight in (("open", 60), ("click", 25), ("delivered", 12), ("bounce", 2), ("complaint", 1))
        for _ in range(weight)
    ]
    sizes = [last - first + 1 for first, last in delivery_ids]
    columns = "delivery_id, kind, occurred_at, is_machine, metadata, created_at"
    with connection.cursor() as cursor:
        with cursor.copy(f"COPY analytics_engagementevent ({columns}) FROM STDIN") as copy:
            for _ in range(n):
                first, _last = rng.choices(delivery_ids, weights=sizes)[0]
                size = sizes[delivery_ids.index((first, _last))]
                kind = rng.choice(kinds)
                metadata = '{"bounce_type": "soft"}' if kind == "bounce" else "{}"
                machine = kind == "open" and rng.random() < 0.1
                at = now - timedelta(seconds=rng.randrange(days * 86400))
                copy.write_row((first + rng.randrange(size), kind, at, machine, metadata, now))
        cursor.execute(
            "INSERT INTO analytics_subscriberengagement (subscriber_id, last_open_at, last_click_at, last_engaged_at) "
            "SELECT d.subscriber_id, max(e.occurred_at) FILTER (WHERE e.kind = 'open'), "
            "max(e.occurred_at) FILTER (WHERE e.kind = 'click'), max(e.occurred_at) "
            "FROM analytics_engagementevent e JOIN channels_app_delivery d ON d.id = e.delivery_id "
            "WHERE e.kind IN ('open', 'click') AND NOT e.is_machine AND d.subscriber_id IS NOT NULL "
            "GROUP BY d.subscriber_id ON CONFLICT (subscriber_id) DO NOTHING"
        )
        cursor.execute("ANALYZE analytics_engagementevent; ANALYZE analytics_subscriberengagement")
    return n
