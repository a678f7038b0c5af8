"""Personalization: scores by the stated rules, computed by hand; one query per batch."""

from datetime import UTC, datetime, timedelta

import pytest

from analytics.models import EngagementEvent
from channels_app.models import Send
from publishing.services.ranking import candidate_score, candidates_load, candidates_rank, subscriber_profiles
from publishing.services.rendering import archive_url
from tests.factories import (
    DeliveryFactory,
    EngagementEventFactory,
    PublicationFactory,
    SendFactory,
    SubscriberFactory,
    SubscriptionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 1, 15, 12, tzinfo=UTC)


@pytest.fixture
def topics(db):
    return TopicFactory(slug="alpha"), TopicFactory(slug="beta")


@pytest.fixture
def subscriber(topics):
    alpha, _ = topics
    subscriber = SubscriberFactory()
    SubscriptionFactory(subscriber=subscriber, topic=alpha, frequency="daily")
    return subscriber


def click(subscriber, publication=None, *, at, machine=False, kind="click", send=None, link=""):
    send = send or SendFactory(publication=publication, kind=Send.Kind.ALERT)
    delivery = DeliveryFactory(send=send, subscriber=subscriber)
    return EngagementEventFactory(
        delivery=delivery, kind=kind, occurred_at=at, is_machine=machine, metadata={"link": link} if link else {}
    )


def pub(topics, hours_ago, quality=None, **kwargs):
    return PublicationFactory(
        topics=list(topics),
        published=True,
        published_at=NOW - timedelta(hours=hours_ago),
        quality_score=quality,
        **kwargs,
    )


def test_scores_follow_topic_match_recency_quality_and_decayed_clicks(topics, subscriber):
    alpha, beta = topics
    # History: two clicks on an alpha alert just now (1.0 each), one on a beta alert 30 days ago
    # (half-life 30 days: 0.5). Ignored: a machine click, an open, someone else's click.
    history_alpha, history_beta = pub([alpha], 200), pub([beta], 900)
    click(subscriber, history_alpha, at=NOW)
    click(subscriber, history_alpha, at=NOW)
    click(subscriber, history_beta, at=NOW - timedelta(days=30))
    click(subscriber, history_alpha, at=NOW, machine=True)
    click(subscriber, history_alpha, at=NOW, kind=EngagementEvent.Kind.OPEN)
    click(SubscriberFactory(), history_beta, at=NOW)

    p1 = pub([alpha], 24, quality=0.8)  # 1 + 0.5 + 0.5*0.8 + 2/(2+3)         = 2.3
    p2 = pub([alpha, beta], 12)  # 0.5 + 0.5**0.5 + 0.5*0.5 + 2.5/(2.5+3)     = 1.911652...
    p3 = pub([alpha], 48, quality=1.0)  # 1 + 0.25 + 0.5*1.0 + 0.4             = 2.15
    p4 = pub([beta], 1, quality=1.0)  # not a topic they follow in this digest: left out

    profile = subscriber_profiles(subscriber_ids=[subscriber.pk], frequencies=["daily"], now=NOW)[subscriber.pk]
    assert profile.topic_ids == {alpha.pk}
    assert profile.clicks == pytest.approx({alpha.pk: 2.0, beta.pk: 0.5})

    candidates = candidates_load(since=NOW - timedelta(days=3), until=NOW)
    ranked = candidates_rank(profile=profile, candidates=candidates, now=NOW)
    assert [item.publication_id for item in ranked] == [p1.pk, p3.pk, p2.pk]
    assert p4.pk not in [item.publication_id for item in ranked]
    scores = {item.publication_id: item for item in ranked}
    assert scores[p1.pk].score == pytest.approx(2.3)
    assert scores[p3.pk].score == pytest.approx(2.15)
    assert scores[p2.pk].score == pytest.approx(0.5 + 0.5**0.5 + 0.25 + 2.5 / 5.5)
    explained = scores[p2.pk]
    assert (explained.topic_match, explained.quality, explained.clicks) == (0.5, 0.5, pytest.approx(2.5))
    assert sum(explained.components().values()) == pytest.approx(explained.score)


def test_ties_go_to_the_newer_publication_then_the_higher_id(topics, subscriber, settings):
    settings.RANKING_WEIGHT_RECENCY = 0.0
    alpha, _ = topics
    older = pub([alpha], 10, quality=0.5)
    same_time_a = pub([alpha], 5, quality=0.5)
    same_time_b = pub([alpha], 5, quality=0.5)
    profile = subscriber_profiles(subscriber_ids=[subscriber.pk], frequencies=["daily"], now=NOW)[subscriber.pk]
    candidates = candidates_load(since=NOW - timedelta(days=1), until=NOW)
    for _ in range(3):  # the same answer every time
        ranked = candidates_rank(profile=profile, candidates=list(reversed(candidates)), now=NOW)
        assert [i.publication_id for i in ranked] == [same_time_b.pk, same_time_a.pk, older.pk]


def test_clicks_in_a_digest_count_for_the_topics_of_the_publication_clicked(topics, subscriber):
    alpha, beta = topics
    archived_link = pub([beta], 100)
    canonical = pub([alpha], 100, canonical_url="https://blog.example.com/post")
    digest = SendFactory(kind=Send.Kind.DIGEST)
    click(subscriber, send=digest, at=NOW, link=archive_url(slug=archived_link.slug))
    click(subscriber, send=digest, at=NOW, link="https://blog.example.com/post")
    click(subscriber, send=digest, at=NOW, link="https://elsewhere.example.com/")  # no publication: ignored
    profile = subscriber_profiles(subscriber_ids=[subscriber.pk], frequencies=["daily"], now=NOW)[subscriber.pk]
    assert profile.clicks == pytest.approx({alpha.pk: 1.0, beta.pk: 1.0})
    assert canonical.pk


def test_clicks_older_than_the_lookback_do_not_count(topics, subscriber, settings):
    settings.RANKING_CLICK_LOOKBACK_DAYS = 90
    alpha, _ = topics
    click(subscriber, pub([alpha], 3000), at=NOW - timedelta(days=91))
    profile = subscriber_profiles(subscriber_ids=[subscriber.pk], frequencies=["daily"], now=NOW)[subscriber.pk]
    assert profile.clicks == {}


def test_profiles_of_a_whole_batch_take_one_query(topics, django_assert_num_queries):
    alpha, beta = topics
    subscribers = SubscriberFactory.create_batch(40)
    for s in subscribers:
        SubscriptionFactory(subscriber=s, topic=alpha, frequency="daily")
        click(s, pub([beta], 50), at=NOW - timedelta(days=1))
    with django_assert_num_queries(1):
        profiles = subscriber_profiles(subscriber_ids=[s.pk for s in subscribers], frequencies=["daily"], now=NOW)
    assert all(p.topic_ids == {alpha.pk} and set(p.clicks) == {beta.pk} for p in profiles.values())


def test_a_publication_without_quality_uses_the_default_and_recency_halves_every_half_life(topics, settings):
    settings.RANKING_RECENCY_HALF_LIFE_HOURS = 10
    settings.RANKING_DEFAULT_QUALITY = 0.4
    alpha, _ = topics
    from publishing.services.ranking import Candidate, SubscriberProfile

    item = candidate_score(
        candidate=Candidate(1, "t", NOW - timedelta(hours=20), None, frozenset({alpha.pk})),
        profile=SubscriberProfile(1, {alpha.pk}),
        now=NOW,
    )
    assert (item.recency, item.quality, item.engagement) == (pytest.approx(0.25), 0.4, 0.0)
    assert item.score == pytest.approx(1 + 0.25 + 0.5 * 0.4)
