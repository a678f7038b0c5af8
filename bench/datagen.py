"""Reproducible datasets for every benchmark, built fast with PostgreSQL COPY (fixed seed).

subscribers(n)       n active subscribers, each subscribed to `topic` (instant email)
events(n, days)      n engagement events over the last `days` days on existing deliveries
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

SEED = 20261123
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Linus", "Radia", "Ken", "Frances", "Tim"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Torvalds", "Perlman", "Thompson"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"]


def subscribers(n: int, *, topic_id: int, seed: int = SEED, frequency: str = "instant") -> int:
    """Insert n active subscribers with an email subscription to the topic; returns n."""
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
                        "{}",
                        rng.choice([7, 8, 9, 17]),
                        0,
                        "",
                        "",
                        round(rng.random(), 3),
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
