"""Property test: random segment trees on a random population give the same subscribers in SQL
(one query per tree) as a brute-force Python evaluation of the same tree (segment_oracle)."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone

from analytics.models import EngagementEvent, HygieneAction, SendTopic, SubscriberEngagement
from channels_app.models import Delivery
from subscribers.models import Subscriber, SubscriberField, Subscription
from subscribers.segments.compile import segment_q
from subscribers.segments.rules import RulesContext, segment_conditions, segment_rules_validate
from subscribers.selectors import segment_subscribers
from tests.factories import (
    ChannelFactory,
    PublicationFactory,
    SendFactory,
    SubscriberFactory,
    SuppressionFactory,
    TopicFactory,
)
from tests.subscribers.segment_oracle import Person, evaluate

pytestmark = pytest.mark.django_db

FIELDS = {"country": "choice", "age": "number", "plan": "text", "vip": "boolean", "renewal": "date"}
COUNTRIES = ["DE", "FR", "US"]
TOPICS = ["news", "sports"]
TREES = 300


@pytest.fixture
def world():
    """~80 subscribers with typed, mistyped and missing attributes, subscriptions, deliveries of
    two publications' sends, human and machine opens and clicks, soft bounces, suppressions."""
    rng = random.Random(1414)
    now = timezone.now()
    SubscriberField.objects.create(key="country", label="Country", type="choice", choices=COUNTRIES)
    for key in ("age", "plan", "vip", "renewal"):
        SubscriberField.objects.create(key=key, label=key.title(), type=FIELDS[key])
    topics = {slug: TopicFactory(slug=slug) for slug in TOPICS}
    publications = [PublicationFactory(), PublicationFactory()]
    channel = ChannelFactory()
    sends = []
    for publication, slug in zip(publications, TOPICS, strict=True):
        send = SendFactory(publication=publication)
        SendTopic.objects.create(send=send, topic=topics[slug])
        sends.append((send, publication.pk, {slug}))
    people = [_person(rng, i, now, topics, channel, sends) for i in range(80)]
    for person in rng.sample(people, 6):
        SuppressionFactory(email=person.columns["email"])
    return {"now": now, "people": people, "publications": [p.pk for p in publications], "rng": rng}


def _person(rng, i, now, topics, channel, sends) -> Person:
    created = now - timedelta(days=rng.uniform(0, 400))
    subscriber = SubscriberFactory(
        email=f"p{i}@{rng.choice(['example.com', 'Example.org', 'mail.test'])}",
        name=rng.choice(["Ada Lovelace", "Grace Hopper", "", "Alan Turing", "ada"]),
        status=rng.choice(["active"] * 5 + ["pending", "unsubscribed", "bounced"]),
        timezone=rng.choice(["UTC", "Europe/Paris", "Asia/Tokyo"]),
        locale=rng.choice(["en", "de", "fr"]),
        attributes=_attributes(rng),
        slack_member_id=rng.choice(["", "", "U0123456"]),
        webhook_url=rng.choice(["", "https://hooks.example.com/x"]),
        engagement_score=rng.choice([0.0, 0.1, 0.25, 0.5, 1.9, 2.0, 5.0]),
        confirmed_at=rng.choice([None, now - timedelta(days=rng.uniform(0, 300))]),
        paused_until=rng.choice([None] * 9 + [now + timedelta(days=3)]),
    )
    Subscriber.objects.filter(pk=subscriber.pk).update(created_at=created)
    subscriber.refresh_from_db()
    person = Person(
        pk=subscriber.pk,
        columns={f: getattr(subscriber, f) for f in _COLUMNS},
        attributes=dict(subscriber.attributes),
    )
    for slug in rng.sample(TOPICS, rng.randint(0, 2)):
        kind, frequency = rng.choice(["email", "email", "slack"]), rng.choice(["instant", "daily", "weekly", "off"])
        Subscription.objects.create(subscriber=subscriber, topic=topics[slug], channel_kind=kind, frequency=frequency)
        person.subscriptions.append((slug, kind, frequency))
    for send, publication_id, send_topics in rng.sample(sends, rng.randint(0, 2)):
        _deliveries_and_events(rng, now, subscriber, person, channel, send, publication_id, send_topics)
    for _ in range(rng.choice([0, 0, 1, 2])):
        at = now - timedelta(days=rng.uniform(0, 60))
        action = HygieneAction.objects.create(
            subscriber=subscriber, email=subscriber.email, kind="soft_bounce", reason="."
        )
        HygieneAction.objects.filter(pk=action.pk).update(created_at=at)
        person.soft_bounces.append(at)
    _summary(subscriber, person)
    return person


_COLUMNS = (
    "status",
    "email",
    "name",
    "timezone",
    "locale",
    "slack_member_id",
    "webhook_url",
    "created_at",
    "confirmed_at",
    "engagement_score",
    "paused_until",
)


def _attributes(rng) -> dict:
    candidates = {
        "country": [*COUNTRIES, "de", "", None],
        "age": [18, 30, 30.0, 45, 61, "42", True],
        "plan": ["Pro", "pro team", "free", "", 5],
        "vip": [True, False, "yes"],
        "renewal": ["2026-01-15", "2026-06-30", "2027-03-01", "soon"],
        "legacy": ["x"],
    }
    return {k: rng.choice(v) for k, v in candidates.items() if rng.random() < 0.75}


def _deliveries_and_events(rng, now, subscriber, person, channel, send, publication_id, send_topics) -> None:
    handed = rng.random() < 0.85
    sent_at = now - timedelta(days=rng.uniform(0, 120)) if handed else None
    delivery = Delivery.objects.create(
        send=send,
        channel=channel,
        subscriber=subscriber,
        recipient_key=subscriber.pk,
        recipient=subscriber.email,
        state="delivered" if handed else "queued",
        sent_at=sent_at,
    )
    person.deliveries.append((sent_at, handed, publication_id, send_topics))
    for _ in range(rng.randint(0, 3) if handed else 0):
        kind, machine = rng.choice(["open", "open", "click"]), rng.random() < 0.3
        at = now - timedelta(days=rng.uniform(0, 120))
        EngagementEvent.objects.create(delivery=delivery, kind=kind, occurred_at=at, is_machine=machine)
        person.events.append((kind, at, machine, publication_id, send_topics))


def _summary(subscriber, person) -> None:
    """The subscriber's last human open and click, as analytics keeps them."""
    last = defaultdict(lambda: None)
    for kind, at, machine, _, _ in person.events:
        if not machine and (last[kind] is None or at > last[kind]):
            last[kind] = at
    if last["open"] or last["click"]:
        SubscriberEngagement.objects.create(
            subscriber=subscriber,
            last_open_at=last["open"],
            last_click_at=last["click"],
            last_engaged_at=max(t for t in (last["open"], last["click"]) if t),
        )


# --- random trees ------------------------------------------------------------------------------


def random_tree(rng, publications, depth: int = 0) -> dict:
    roll = rng.random()
    if depth < 3 and roll < 0.35:
        kind = rng.choice(["and", "or", "and", "or", "not"])
        if kind == "not":
            return {"type": "not", "rule": random_tree(rng, publications, depth + 1)}
        return {"type": kind, "rules": [random_tree(rng, publications, depth + 1) for _ in range(rng.randint(1, 4))]}
    return rng.choice(_LEAVES)(rng, publications)


def _attribute_leaf(rng, publications) -> dict:
    key = rng.choice(list(FIELDS))
    ops = {
        "choice": ["eq", "in", "exists"],
        "number": ["eq", "in", "range", "exists"],
        "text": ["eq", "contains", "in", "exists"],
        "boolean": ["eq", "exists"],
        "date": ["eq", "range", "exists"],
    }[FIELDS[key]]
    op = rng.choice(ops)
    node = {"type": "attribute", "key": key, "op": op}
    values = {
        "country": lambda: rng.choice(COUNTRIES),
        "age": lambda: rng.choice([18, 30, 42, 45.0, 61]),
        "plan": lambda: rng.choice(["Pro", "PRO", "free", "team"]),
        "vip": lambda: rng.choice([True, False]),
        "renewal": lambda: rng.choice(["2026-01-15", "2026-06-30", "2026-12-31"]),
    }[key]
    if op in ("eq", "contains"):
        node["value"] = values()
    elif op == "in":
        node["value"] = [values() for _ in range(rng.randint(1, 3))]
    elif op == "range":
        low, high = sorted([values(), values()])
        node["value"] = rng.choice([{"min": low}, {"max": high}, {"min": low, "max": high}])
    return node


def _field_leaf(rng, publications) -> dict:
    return rng.choice(
        [
            {"type": "field", "field": "status", "op": "in", "value": rng.sample(["active", "pending", "bounced"], 2)},
            {"type": "field", "field": "status", "op": "eq", "value": "active"},
            {"type": "field", "field": "email", "op": "contains", "value": rng.choice(["example", "ORG", "p1"])},
            {"type": "field", "field": "name", "op": "eq", "value": "ada"},
            {"type": "field", "field": "name", "op": "exists"},
            {"type": "field", "field": "timezone", "op": "in", "value": ["UTC", "Asia/Tokyo"]},
            {"type": "field", "field": "locale", "op": "eq", "value": rng.choice(["en", "de"])},
            {"type": "field", "field": rng.choice(["slack_member_id", "webhook_url"]), "op": "exists"},
            {"type": "field", "field": "created_at", "op": "within_days", "value": rng.choice([7, 30, 200])},
            {"type": "field", "field": "confirmed_at", "op": "exists"},
            {
                "type": "field",
                "field": rng.choice(["created_at", "confirmed_at"]),
                "op": "range",
                "value": {"min": (timezone.now() - timedelta(days=rng.randint(50, 300))).date().isoformat()},
            },
            {"type": "field", "field": "engagement_score", "op": "range", "value": {"min": 0.25, "max": 2.0}},
            {"type": "field", "field": "engagement_score", "op": "eq", "value": rng.choice([0.25, 2, 5.0])},
            {"type": "field", "field": "engagement_score", "op": "in", "value": rng.sample([0.0, 0.5, 1.9, 7], 2)},
            {
                "type": "field",
                "field": rng.choice(["created_at", "confirmed_at"]),
                "op": "range",
                "value": {"max": _offset_time(rng, days=rng.randint(10, 300))},
            },
            {
                "type": "field",
                "field": "created_at",
                "op": "range",
                "value": {"min": _offset_time(rng, days=300), "max": _offset_time(rng, days=rng.randint(10, 200))},
            },
        ]
    )


def _offset_time(rng, *, days: int) -> str:
    """A moment `days` ago as ISO text in a random offset, up to +20:00 (beyond PostgreSQL's
    ±15:59, so only the UTC conversion makes it comparable)."""
    zone = dt_timezone(timedelta(hours=rng.choice([-11, 0, 5, 20]), minutes=rng.choice([0, 30])))
    return (timezone.now() - timedelta(days=days)).astimezone(zone).isoformat(timespec="seconds")


def _behaviour_leaf(rng, publications) -> dict:
    node = {"type": "activity", "action": rng.choice(["opened", "clicked", "sent"])}
    days = rng.choice([None, 7, 30, 90])
    if days:
        node["within_days"] = days
    scope = rng.choice([None, "publication", "topic"])
    if scope == "publication":
        node["publication"] = rng.choice(publications)
    elif scope == "topic":
        node["topic"] = rng.choice(TOPICS)
    return node


def _other_leaf(rng, publications) -> dict:
    return rng.choice(
        [
            {"type": "topic", "topic": rng.choice(TOPICS)},
            {"type": "topic", "topic": "news", "frequencies": ["daily", "weekly"], "channel_kind": "email"},
            {"type": "engagement_tier", "tiers": rng.sample(["new", "active", "at_risk", "dormant"], 2)},
            {"type": "soft_bounced", **rng.choice([{}, {"within_days": 30}])},
            {"type": "never_opened"},
        ]
    )


_LEAVES = [_attribute_leaf, _field_leaf, _behaviour_leaf, _behaviour_leaf, _other_leaf]


def _mailable(person: Person, now, suppressed: set[str]) -> bool:
    paused = person.columns["paused_until"]
    return (
        person.columns["status"] == "active"
        and (paused is None or paused <= now)
        and person.columns["email"] not in suppressed
    )


def test_random_trees_select_the_same_subscribers_in_sql_as_the_brute_force_evaluation(
    world, django_assert_num_queries
):
    now, people, rng = world["now"], world["people"], world["rng"]
    fields = {f.key: f for f in SubscriberField.objects.all()}
    context = RulesContext(fields=fields, topics=set(TOPICS), publication_ids=set(world["publications"]))
    from subscribers.models import Suppression

    suppressed = set(Suppression.objects.values_list("email", flat=True))
    seen_sizes = set()
    for _ in range(TREES):
        tree = random_tree(rng, world["publications"])
        segment_rules_validate(tree, context=context)
        expected = {p.pk for p in people if evaluate(tree, p, FIELDS, now)}
        # One audience query, plus one read of the sends in scope per kind of scope in the tree.
        leaves = [node for node in segment_conditions(tree) if node["type"] == "activity"]
        scope_reads = sum(any(scope in node for node in leaves) for scope in ("publication", "topic"))
        with django_assert_num_queries(1 + scope_reads):
            got = set(Subscriber.objects.filter(segment_q(tree, now=now, fields=fields)).values_list("pk", flat=True))
        assert got == expected, tree
        mailable = {p.pk for p in people if p.pk in expected and _mailable(p, now, suppressed)}
        assert set(segment_subscribers(rules=tree, now=now).values_list("pk", flat=True)) == mailable, tree
        seen_sizes.add(len(expected))
    # The trees were not degenerate: results of many different sizes, empty and large among them.
    assert len(seen_sizes) > 20 and 0 in seen_sizes and max(seen_sizes) > 40


def test_suppressed_and_unsubscribed_subscribers_are_never_in_a_segment_whatever_it_says(world):
    everyone = {"type": "or", "rules": [{"type": "never_opened"}, {"type": "not", "rule": {"type": "never_opened"}}]}
    assert Subscriber.objects.filter(segment_q(everyone, now=world["now"])).count() == len(world["people"])
    members = segment_subscribers(rules=everyone, now=world["now"])
    assert members.count() > 0
    assert not members.exclude(status="active").exists()
    from subscribers.models import Suppression

    assert not members.filter(email__in=Suppression.objects.values("email")).exists()
