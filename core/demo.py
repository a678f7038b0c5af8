"""Demo data for `make run`: a few topics, ~200 subscribers, publications, one channel per kind.

Idempotent: every row is keyed on a natural key (slug, email, channel name), so loading
twice changes nothing. Deterministic: Faker and random are seeded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from faker import Faker

from channels_app.adapters import ADAPTERS
from channels_app.models import Channel
from publishing.models import Publication
from subscribers.models import EMAIL_KIND, Subscriber, Subscription, Topic

SUBSCRIBER_COUNT = 200
TOPICS = [
    ("engineering", "Engineering", "How we build things: architecture, releases, postmortems."),
    ("product", "Product updates", "New features and changes, as they ship."),
    ("security", "Security advisories", "Vulnerabilities and fixes that need your attention now."),
    ("company", "Company news", "Announcements, events and people."),
]
TIMEZONES = ["UTC", "Europe/Paris", "America/New_York", "America/Los_Angeles", "Asia/Tokyo", "Australia/Sydney"]


@dataclass(frozen=True)
class DemoSummary:
    topics: int
    subscribers: int
    subscriptions: int
    publications: int
    channels: int


@transaction.atomic
def demo_data_load(*, seed: int = 2026) -> DemoSummary:
    topics = _load_topics()
    _load_subscribers(topics, seed=seed)
    _load_publications(topics)
    _load_channels(topics)
    _load_welcome_automation()
    return DemoSummary(
        topics=Topic.objects.count(),
        subscribers=Subscriber.objects.count(),
        subscriptions=Subscription.objects.count(),
        publications=Publication.objects.count(),
        channels=Channel.objects.count(),
    )


def _load_topics() -> list[Topic]:
    topics = []
    for slug, name, description in TOPICS:
        topic, _ = Topic.objects.get_or_create(slug=slug, defaults={"name": name, "description": description})
        topics.append(topic)
    return topics


def _load_subscribers(topics: list[Topic], *, seed: int) -> None:
    fake = Faker()
    fake.seed_instance(seed)
    rng = random.Random(seed)
    now = timezone.now()
    statuses = [Subscriber.Status.ACTIVE] * 17 + [
        Subscriber.Status.PENDING,
        Subscriber.Status.UNSUBSCRIBED,
        Subscriber.Status.BOUNCED,
    ]
    rows = []
    for i in range(1, SUBSCRIBER_COUNT + 1):
        status = rng.choice(statuses)
        rows.append(
            Subscriber(
                email=f"demo{i:03d}@example.com",
                name=fake.name(),
                status=status,
                timezone=rng.choice(TIMEZONES),
                digest_hour=rng.choice([7, 8, 9, 17]),
                slack_member_id=f"U0DEMO{i:03d}" if i % 10 == 0 else "",
                source="demo",
                confirmed_at=now if status != Subscriber.Status.PENDING else None,
            )
        )
    Subscriber.objects.bulk_create(rows, ignore_conflicts=True)
    by_email = dict(Subscriber.objects.filter(source="demo").values_list("email", "id"))
    frequencies = [Subscription.Frequency.INSTANT, Subscription.Frequency.DAILY, Subscription.Frequency.WEEKLY]
    subscriptions = []
    for row in rows:
        for topic in rng.sample(topics, k=rng.randint(1, 3)):
            subscriptions.append(
                Subscription(
                    subscriber_id=by_email[row.email],
                    topic=topic,
                    channel_kind=EMAIL_KIND,
                    frequency=rng.choice(frequencies),
                )
            )
        if row.slack_member_id:
            subscriptions.append(Subscription(subscriber_id=by_email[row.email], topic=topics[2], channel_kind="slack"))
    Subscription.objects.bulk_create(subscriptions, ignore_conflicts=True)


def _load_publications(topics: list[Topic]) -> None:
    now = timezone.now()
    by_slug = {t.slug: t for t in topics}
    specs = [
        ("welcome-to-bulletin", "Welcome to Bulletin", ["company"], Publication.State.PUBLISHED, "normal", 0.9, 5),
        (
            "release-2-4",
            "Release 2.4: faster digests",
            ["product", "engineering"],
            Publication.State.PUBLISHED,
            "normal",
            0.7,
            3,
        ),
        (
            "tls-advisory",
            "Advisory: rotate your TLS certificates",
            ["security"],
            Publication.State.PUBLISHED,
            "alert",
            0.95,
            1,
        ),
        (
            "postmortem-queue",
            "Postmortem: the queue that would not drain",
            ["engineering"],
            Publication.State.IN_REVIEW,
            "normal",
            None,
            None,
        ),
        ("q4-roadmap", "Our Q4 roadmap", ["product", "company"], Publication.State.SCHEDULED, "normal", 0.6, -2),
        ("draft-hiring", "We are hiring (draft)", ["company"], Publication.State.DRAFT, "normal", None, None),
    ]
    for slug, title, topic_slugs, state, priority, quality, days_ago in specs:
        when = now - timedelta(days=days_ago) if days_ago is not None else None
        publication, created = Publication.objects.get_or_create(
            slug=slug,
            defaults={
                "title": title,
                "summary": f"{title}: a demo publication.",
                "body": f"# {title}\n\nThis is **demo** content for Bulletin.\n\n- point one\n- point two\n",
                "canonical_url": f"{settings.SITE_URL}/archive/{slug}/",
                "priority": priority,
                "quality_score": quality,
                "state": state,
                "published_at": when if state == Publication.State.PUBLISHED else None,
                "publish_at": when if state == Publication.State.SCHEDULED else None,
            },
        )
        if created:
            publication.topics.set([by_slug[s] for s in topic_slugs])


def _load_channels(topics: list[Topic]) -> None:
    """Each kind's demo channels (its adapter's `demo_channels`), posting to its local sink."""
    for kind, adapter in ADAPTERS.items():
        for spec in adapter.demo_channels(sink_url=f"{settings.SITE_URL}/dev/sinks/{kind}/"):
            channel, created = Channel.objects.get_or_create(
                name=spec.name,
                defaults={
                    "kind": kind,
                    "audience": spec.audience,
                    "is_default": spec.is_default,
                    "config": dict(spec.config),
                    "credentials": dict(spec.credentials),
                },
            )
            if created and spec.audience == Channel.Audience.BROADCAST:
                channel.topics.set(topics)


WELCOME_TEMPLATES = [
    (
        "welcome-1",
        'Welcome to {site}, {{{{ subscriber.first_name|default:"there" }}}}',
        'Hello {{{{ subscriber.first_name|default:"there" }}}},\n\nThanks for confirming. You will hear from us '
        "when something new is published in your topics.\n\nChoose topics, channels and how often: "
        "[your preferences]({url}/).",
    ),
    (
        "welcome-2",
        "Getting the most out of {site}",
        'Hello again {{{{ subscriber.first_name|default:"there" }}}},\n\nPrefer one email a day? Switch any topic to a '
        "daily or weekly digest, delivered at the hour you choose.\n\nBrowse [the archive]({url}/archive/).",
    ),
]


def _load_welcome_automation() -> None:
    """A ready "Welcome" automation started by confirmation: a welcome now, and two days later,
    at 09:00 in the subscriber's time zone, a second message. Created once; edits are kept."""
    from datetime import time

    from publishing.automation_models import Automation
    from publishing.services.automations.definitions import automation_create
    from publishing.services.transactional import message_template_create
    from publishing.transactional_models import MessageTemplate

    channel = Channel.objects.filter(kind="email", is_default=True).first()
    if channel is None or Automation.objects.filter(name="Welcome").exists():
        return
    templates = []
    for name, subject, body in WELCOME_TEMPLATES:
        template = MessageTemplate.objects.filter(name=name).first() or message_template_create(
            actor=None,
            name=name,
            channel=channel,
            subject=subject.format(site=settings.SITE_NAME),
            body=body.format(url=settings.SITE_URL),
            description="Demo welcome series",
        )
        templates.append(template)
    automation_create(
        actor=None,
        name="Welcome",
        description="Sent to every subscriber who confirms (demo data).",
        trigger="confirmed",
        is_active=True,
        steps=[
            {"kind": "send", "template": templates[0]},
            {"kind": "wait", "wait": timedelta(days=2)},
            {"kind": "wait_until", "local_time": time(9, 0)},
            {"kind": "send", "template": templates[1]},
        ],
    )
