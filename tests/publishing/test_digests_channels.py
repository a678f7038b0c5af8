"""Digests on every personal channel: Slack direct messages and personal webhooks get them with
the email digest's guarantees (one per period, DST, ranking), on the same beat job."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from channels_app.models import Delivery
from publishing.models import DigestLog
from publishing.tasks import digests_run_task
from subscribers.links import UNSUBSCRIBE_PATH
from subscribers.tokens import TokenPurpose, UnsubscribeScope, subscriber_token_read
from tests.emulators.fixtures import SLACK_TOKEN, WEBHOOK_SECRET
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

MEMBER = "U0ADA00001"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def slack_channel(slack_emulator):
    return ChannelFactory(
        name="Slack DMs",
        kind="slack",
        is_default=True,
        rate_limit_per_second=1000,
        # Days pass on the test's clock in a second of real time: Slack's one message per second
        # per conversation (the real GCRA, on Redis's clock) would defer most of these digests.
        target_rate_per_second=1000,
        config={"base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )


@pytest.fixture
def webhook_channel(webhook_receiver):
    return ChannelFactory(
        name="Personal webhooks",
        kind="webhook",
        is_default=True,
        rate_limit_per_second=1000,
        config={},
        credentials={"secret": WEBHOOK_SECRET},
    )


def reader(topic, *, kind, frequency, **kwargs):
    subscriber = SubscriberFactory(**kwargs)
    SubscriptionFactory(subscriber=subscriber, topic=topic, channel_kind=kind, frequency=frequency)
    return subscriber


def beat(clock, capture, start: datetime, end: datetime, every: timedelta, hours: set[int] | None = None) -> None:
    """Run the beat's digest task at every tick from `start` to `end` (only at these UTC `hours`
    when given), with core.clock moved there: the task asks the clock for the time, and
    deliveries go out through the real pipeline to the emulators."""
    now = start
    while now <= end:
        if hours is None or now.hour in hours:
            clock.advance((now - clock.now()).total_seconds())
            with capture(execute=True):
                digests_run_task()
        now += every


def webhook_events(receiver, path: str) -> list[dict]:
    return [json.loads(m["body"]) for m in receiver.messages(path=path)]


@pytest.mark.parametrize(
    ("first", "last", "dst_day"),
    [
        (date(2025, 3, 22), date(2025, 4, 6), date(2025, 3, 30)),  # spring: 02:00 does not exist
        (date(2025, 10, 18), date(2025, 11, 2), date(2025, 10, 26)),  # autumn: 02:00 happens twice
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_slack_daily_and_a_webhook_weekly_subscriber_get_exactly_one_digest_per_period_across_dst(
    topic,
    slack_channel,
    webhook_channel,
    slack_emulator,
    webhook_receiver,
    clock,
    django_capture_on_commit_callbacks,
    first,
    last,
    dst_day,
):
    zone = "Europe/Paris"
    slacker = reader(topic, kind="slack", frequency="daily", timezone=zone, digest_hour=2, slack_member_id=MEMBER)
    hooked = reader(
        topic,
        kind="webhook",
        frequency="weekly",
        timezone=zone,
        digest_hour=2,
        digest_weekday=6,  # Sunday: the DST change itself is a digest day
        webhook_url=webhook_receiver.url("/ada"),
    )
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for day in [first - timedelta(days=1), *days]:  # something new every day
        PublicationFactory(
            topics=[topic], published=True, published_at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        )

    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = start + timedelta(days=len(days)) - timedelta(hours=1)  # 00:00 UTC is already 01:00 or 02:00 in Paris
    # Every hour around 02:00 in Paris (both offsets, and both 02:00s of the autumn day), and a
    # late run at noon that must not send a period again.
    beat(clock, django_capture_on_commit_callbacks, start, end, timedelta(hours=1), hours={22, 23, 0, 1, 2, 3, 4, 12})

    # Slack: one direct message per local day, the DST day included, each mentioning the subscriber.
    slack_logs = DigestLog.objects.filter(subscriber=slacker, channel_kind="slack").order_by("period")
    assert [log.period for log in slack_logs] == days
    assert all(log.publication_ids for log in slack_logs)
    messages = slack_emulator.messages(channel=MEMBER)
    assert len(messages) == len(days)
    assert all(m["text"].startswith(f"<@{MEMBER}> Your daily Bulletin digest") for m in messages)
    assert all(any(f"<@{MEMBER}>" in b.get("text", {}).get("text", "") for b in m["blocks"]) for m in messages)
    dst_log = slack_logs.get(period=dst_day)
    assert dst_log.scheduled_for == (utc(2025, 3, 30, 1) if dst_day.month == 3 else utc(2025, 10, 26, 0))

    # Webhook: one signed event per ISO week (Monday's date is the period), the DST Sunday's included.
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days if d.weekday() == 6})
    webhook_logs = DigestLog.objects.filter(subscriber=hooked, channel_kind="webhook").order_by("period")
    assert [log.period for log in webhook_logs] == mondays
    requests = webhook_receiver.messages(path="/ada")
    assert len(requests) == len(mondays) and all(r["signature_valid"] for r in requests)
    events = [json.loads(r["body"]) for r in requests]
    assert [e["type"] for e in events] == ["digest.weekly"] * len(mondays)
    assert [e["digest"]["period"] for e in events] == [str(monday) for monday in mondays]
    assert len({r["headers"]["webhook-id"] for r in requests}) == len(requests)
    # No email channel's subscriber got anything, and nothing was handed over twice.
    assert Delivery.objects.filter(send__kind="digest").count() == len(days) + len(mondays)
    assert not Delivery.objects.exclude(state="sent").exists()


def test_a_slack_digest_is_one_block_kit_message_with_the_ranked_items_escaped(
    topic, slack_channel, slack_emulator, clock, settings, django_capture_on_commit_callbacks
):
    settings.DIGEST_TOP_N = 2
    subscriber = reader(topic, kind="slack", frequency="daily", slack_member_id=MEMBER, digest_hour=8)
    low = PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 9), quality_score=0.1)
    high = PublicationFactory(
        topics=[topic],
        published=True,
        published_at=utc(2026, 1, 14, 9),
        quality_score=0.9,
        title="<!channel> Launch & <@U0BOSS01> review",
        summary="Read <https://evil.example|this>",
    )
    middle = PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 9), quality_score=0.5)
    beat(clock, django_capture_on_commit_callbacks, utc(2026, 1, 15, 8), utc(2026, 1, 15, 8), timedelta(hours=1))

    [message] = slack_emulator.messages(channel=MEMBER)
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert sections[0].startswith(f"Hi <@{MEMBER}>")
    items = sections[1:]
    assert len(items) == 2  # top N, best first
    assert "&lt;!channel&gt; Launch &amp; &lt;@U0BOSS01&gt; review" in items[0]
    assert "&lt;https://evil.example|this&gt;" in items[0]
    assert middle.title in items[1] and low.title not in json.dumps(message["blocks"])
    assert "<!channel>" not in json.dumps(message) and "<@U0BOSS01>" not in json.dumps(message)
    assert message["blocks"][0]["type"] == "header" and message["blocks"][-1]["type"] == "context"
    delivery = Delivery.objects.get(subscriber=subscriber)
    assert delivery.context["items"] == [high.pk, middle.pk]
    assert "/t/c/" in items[0]  # tracked like every digest link


def test_a_webhook_digest_is_one_signed_event_with_the_ranked_items(
    topic, webhook_channel, webhook_receiver, clock, settings, django_capture_on_commit_callbacks
):
    settings.DIGEST_TOP_N = 2
    subscriber = reader(
        topic, kind="webhook", frequency="daily", digest_hour=8, webhook_url=webhook_receiver.url("/ada")
    )
    older = PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 10), quality_score=0.2)
    best = PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 9), quality_score=0.9)
    PublicationFactory(topics=[TopicFactory(slug="elsewhere")], published=True, published_at=utc(2026, 1, 14, 9))
    beat(clock, django_capture_on_commit_callbacks, utc(2026, 1, 15, 8), utc(2026, 1, 15, 9), timedelta(minutes=30))

    [request] = webhook_receiver.messages(path="/ada")
    assert request["signature_valid"] and request["headers"]["webhook-id"].startswith("msg_bulletin_")
    event = json.loads(request["body"])
    assert event["type"] == "digest.daily" and event["digest"]["period"] == "2026-01-15"
    assert [(i["rank"], i["id"]) for i in event["digest"]["items"]] == [(1, best.pk), (2, older.pk)]
    assert event["digest"]["items"][0]["topics"] == ["news"] and "/t/c/" in event["digest"]["items"][0]["url"]
    token = event["unsubscribe_url"].rsplit("/", 1)[1]
    assert UNSUBSCRIBE_PATH.split("{")[0] in event["unsubscribe_url"]
    scope = subscriber_token_read(purpose=TokenPurpose.UNSUBSCRIBE, token=token).scope
    assert scope == UnsubscribeScope(kind="webhook", topic_ids=(topic.pk,), frequency="daily")
    assert DigestLog.objects.get(subscriber=subscriber).publication_ids == [best.pk, older.pk]


def test_each_kind_has_its_own_period_and_history(
    topic, email_channel, slack_channel, slack_emulator, outbox, clock, django_capture_on_commit_callbacks
):
    """One person, a daily email digest and a daily Slack digest: two digests a day, each with
    everything new (one kind's digest never hides an item from the other's)."""
    subscriber = reader(topic, kind="email", frequency="daily", digest_hour=8, slack_member_id=MEMBER)
    SubscriptionFactory(subscriber=subscriber, topic=topic, channel_kind="slack", frequency="daily")
    story = PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 9))
    beat(clock, django_capture_on_commit_callbacks, utc(2026, 1, 15, 8), utc(2026, 1, 15, 10), timedelta(hours=1))
    logs = DigestLog.objects.filter(subscriber=subscriber).order_by("channel_kind")
    assert [(log.channel_kind, log.publication_ids) for log in logs] == [("email", [story.pk]), ("slack", [story.pk])]
    assert len(outbox()) == 1 and len(slack_emulator.messages(channel=MEMBER)) == 1


def test_a_kind_without_a_channel_keeps_its_periods_open_until_one_exists(
    topic, slack_emulator, clock, django_capture_on_commit_callbacks
):
    subscriber = reader(topic, kind="slack", frequency="daily", digest_hour=8, slack_member_id=MEMBER)
    PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 10))
    beat(clock, django_capture_on_commit_callbacks, utc(2026, 1, 15, 8), utc(2026, 1, 15, 8), timedelta(hours=1))
    assert not DigestLog.objects.exists()
    ChannelFactory(
        kind="slack",
        is_default=True,
        config={"base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )
    beat(clock, django_capture_on_commit_callbacks, utc(2026, 1, 15, 9), utc(2026, 1, 15, 9), timedelta(hours=1))
    assert DigestLog.objects.get(subscriber=subscriber).period == date(2026, 1, 15)
    assert len(slack_emulator.messages(channel=MEMBER)) == 1


def test_a_slack_subscriber_without_a_member_id_gets_no_digest(topic, slack_channel, clock):
    reader(topic, kind="slack", frequency="daily", digest_hour=8, slack_member_id="")
    PublicationFactory(topics=[topic], published=True, published_at=utc(2026, 1, 14, 9))
    clock.advance((utc(2026, 1, 15, 8) - clock.now()).total_seconds())
    assert digests_run_task()["due"] == 0
    assert not DigestLog.objects.exists()
