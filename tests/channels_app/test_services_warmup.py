"""Warm-up: a daily cap on a sending identity, the most engaged first, the rest waiting in order
(held deliveries are not due before the next day), the schedule moved by how each day went."""

import random
from datetime import UTC, datetime, time, timedelta

import pytest

from channels_app.models import Delivery, Send, WarmupDay, WarmupHold, WarmupPlan
from channels_app.services.sweeper import deliveries_sweep
from channels_app.services.warmup import warmup_plan_for, warmup_progress
from channels_app.warmup_models import default_warmup_schedule
from publishing.services.fanout import send_materialize
from subscribers.models import Subscriber, Subscription
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _readers(topic, count: int) -> list[int]:
    """`count` instant email subscribers of `topic` with distinct engagement scores, the scores
    shuffled across ids (so id order is not engagement order); returns their ids best first."""
    scores = list(range(count))
    random.Random(18).shuffle(scores)
    Subscriber.objects.bulk_create(
        Subscriber(email=f"warm{i}@example.com", status=Subscriber.Status.ACTIVE, engagement_score=score)
        for i, score in enumerate(scores)
    )
    readers = list(Subscriber.objects.filter(email__startswith="warm").order_by("-engagement_score"))
    Subscription.objects.bulk_create(Subscription(subscriber=s, topic=topic, frequency="instant") for s in readers)
    return [s.pk for s in readers]


def _sent(send) -> list[int]:
    return list(
        Delivery.objects.filter(send=send, state=Delivery.State.SENT)
        .order_by("-subscriber__engagement_score")
        .values_list("subscriber_id", flat=True)
    )


def _next_midnight(clock):
    now = clock.now()
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    clock.advance((midnight - now).total_seconds() + 60)


def _materialize(send, capture):
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    with capture(execute=True):
        send_materialize(send_id=send.pk)


def test_the_default_schedule_goes_from_50_to_3000_in_30_days():
    schedule = default_warmup_schedule()
    assert len(schedule) == 30 and schedule[0] == 50 and schedule[-1] == 3000
    assert schedule == sorted(schedule)


def test_a_send_of_10000_on_day_one_sends_the_50_most_engaged_and_defers_the_rest_in_order(
    outbox_channel, topic, make_send, clock, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_MATERIALIZE_CHUNK = 3000  # several pages: the 50 are the best of all of them
    best_first = _readers(topic, 10_000)
    plan = WarmupPlan.objects.create(channel=outbox_channel, schedule=[50, 80, 120])
    send = make_send(kind=Send.Kind.NEWSLETTER)

    _materialize(send, django_capture_on_commit_callbacks)

    assert _sent(send) == best_first[:50]
    waiting = Delivery.objects.filter(send=send, state=Delivery.State.QUEUED)
    assert waiting.count() == 9_950
    tomorrow = datetime.combine(clock.now().date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert set(waiting.values_list("next_attempt_at", flat=True)) == {tomorrow}
    assert WarmupHold.objects.filter(plan=plan).count() == 9_950
    progress = warmup_progress(plan=WarmupPlan.objects.get(pk=plan.pk))
    assert progress["cap_today"] == 50 and progress["released_today"] == 50 and progress["waiting"] == 9_950

    with django_capture_on_commit_callbacks(execute=True):  # the same day: the cap is spent
        deliveries_sweep()
    assert len(_sent(send)) == 50

    _next_midnight(clock)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert _sent(send) == best_first[:130]  # a good day 1: day 2 sends the next cap's worth (80)
    day = WarmupDay.objects.get(plan=plan)
    assert (day.sent, day.cap, day.decision) == (50, 50, WarmupDay.Decision.ADVANCED)
    assert Delivery.objects.filter(send=send, state=Delivery.State.QUEUED).count() == 9_870


def test_a_day_with_bounces_over_the_threshold_holds_the_schedule_back_a_step(
    outbox_channel, topic, make_send, clock, django_capture_on_commit_callbacks
):
    best_first = _readers(topic, 300)
    plan = WarmupPlan.objects.create(channel=outbox_channel, schedule=[20, 40, 60], step=1, bounce_threshold=0.05)
    send = make_send(kind=Send.Kind.NEWSLETTER)
    _materialize(send, django_capture_on_commit_callbacks)
    assert len(_sent(send)) == 40
    bounced = Delivery.objects.filter(send=send, state=Delivery.State.SENT).values("pk")[:3]  # 7.5%
    Delivery.objects.filter(pk__in=bounced).update(state=Delivery.State.BOUNCED)

    _next_midnight(clock)
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()

    plan.refresh_from_db()
    assert plan.step == 0 and plan.cap == 20
    assert WarmupDay.objects.get(plan=plan).decision == WarmupDay.Decision.HELD_BACK
    sent_or_bounced = Delivery.objects.filter(send=send).exclude(state=Delivery.State.QUEUED)
    assert sent_or_bounced.count() == 60
    assert set(sent_or_bounced.values_list("subscriber_id", flat=True)) == set(best_first[:60])


def test_the_last_good_day_completes_the_plan_and_lets_everything_out(
    outbox_channel, topic, make_send, clock, django_capture_on_commit_callbacks
):
    _readers(topic, 30)
    plan = WarmupPlan.objects.create(channel=outbox_channel, schedule=[5, 10])
    send = make_send(kind=Send.Kind.NEWSLETTER)
    _materialize(send, django_capture_on_commit_callbacks)
    for expected in (15, 30):  # day 2: cap 10; after day 2 (the last step, good): completed
        _next_midnight(clock)
        with django_capture_on_commit_callbacks(execute=True):
            deliveries_sweep()
        assert len(_sent(send)) == expected
    plan.refresh_from_db()
    assert plan.status == WarmupPlan.Status.COMPLETED
    assert not WarmupHold.objects.filter(plan=plan).exists()


def test_a_plan_for_another_from_domain_does_not_cap_the_channel(outbox_channel):
    WarmupPlan.objects.create(channel=outbox_channel, from_domain="new.example.org")
    assert warmup_plan_for(channel=outbox_channel) is None
    own = WarmupPlan.objects.create(channel=outbox_channel, from_domain="example.com")
    WarmupPlan.objects.create(channel=outbox_channel, from_domain="")
    assert warmup_plan_for(channel=outbox_channel) == own


def test_a_channel_without_a_plan_sends_everything_at_once(
    outbox_channel, topic, make_send, django_capture_on_commit_callbacks
):
    _readers(topic, 120)
    WarmupPlan.objects.create(channel=ChannelFactory(kind="email", config=outbox_channel.config), schedule=[1])
    send = make_send(kind=Send.Kind.NEWSLETTER)
    _materialize(send, django_capture_on_commit_callbacks)
    assert len(_sent(send)) == 120


def test_what_a_new_day_lets_out_still_waits_for_the_end_of_the_subscriber_s_quiet_hours(
    outbox_channel, topic, make_send, clock, django_capture_on_commit_callbacks
):
    from publishing.models import Publication
    from tests.factories import PublicationFactory

    for i in range(2):
        Subscription.objects.create(
            subscriber=Subscriber.objects.create(email=f"p{i}@example.com", timezone="Europe/Paris", status="active"),
            topic=topic,
            frequency="instant",
        )
    publication = PublicationFactory(
        topics=[topic], quiet_hours_start=time(21), quiet_hours_end=time(8), priority=Publication.Priority.NORMAL
    )
    WarmupPlan.objects.create(channel=outbox_channel, schedule=[1, 1, 1])
    clock.advance((datetime(2026, 6, 10, 12, tzinfo=UTC) - clock.now()).total_seconds())  # 14:00 in Paris
    send = make_send(kind=Send.Kind.NEWSLETTER, publication=publication)
    _materialize(send, django_capture_on_commit_callbacks)
    assert len(_sent(send)) == 1

    _next_midnight(clock)  # 00:01 UTC is 02:01 in Paris: let out, but not sent in the night
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert len(_sent(send)) == 1
    waiting = Delivery.objects.get(send=send, state=Delivery.State.QUEUED)
    assert waiting.next_attempt_at == datetime(2026, 6, 11, 6, tzinfo=UTC)  # 08:00 in Paris
    clock.advance((waiting.next_attempt_at - clock.now()).total_seconds())
    with django_capture_on_commit_callbacks(execute=True):
        deliveries_sweep()
    assert len(_sent(send)) == 2


def test_digests_through_a_warming_channel_count_against_its_cap(
    outbox_channel, topic, clock, django_capture_on_commit_callbacks
):
    from publishing.services.digests import digests_run
    from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory

    now = datetime(2026, 1, 15, 8, tzinfo=UTC)
    clock.advance((now - clock.now()).total_seconds())
    for score in (1, 3, 2):
        reader = SubscriberFactory(timezone="UTC", digest_hour=8, engagement_score=score)
        SubscriptionFactory(subscriber=reader, topic=topic, frequency="daily")
    PublicationFactory(topics=[topic], published=True, published_at=now - timedelta(hours=20))
    WarmupPlan.objects.create(channel=outbox_channel, schedule=[2, 4])

    with django_capture_on_commit_callbacks(execute=True):
        digests_run(now=now)

    sent = Delivery.objects.filter(send__kind=Send.Kind.DIGEST, state=Delivery.State.SENT)
    assert sorted(sent.values_list("subscriber__engagement_score", flat=True)) == [2, 3]
    assert Delivery.objects.filter(send__kind=Send.Kind.DIGEST, state=Delivery.State.QUEUED).count() == 1


def test_a_send_without_warm_up_quiet_hours_or_send_time_does_no_extra_work_per_page(
    outbox_channel, topic, make_send, settings
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DELIVERY_MATERIALIZE_CHUNK = 10  # five pages
    _readers(topic, 50)
    send = make_send(kind=Send.Kind.NEWSLETTER)
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    with CaptureQueriesContext(connection) as queries:
        send_materialize(send_id=send.pk)
    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("warmup" in s for s in sql) == 1  # the one plan lookup of the send's channel
    assert not [s for s in sql if "sendtimeassignment" in s or s.startswith('UPDATE "channels_app_delivery"')]
    assert Delivery.objects.filter(send=send, next_attempt_at__isnull=True).count() == 50
