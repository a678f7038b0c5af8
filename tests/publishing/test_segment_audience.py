"""A publication's audience = its topics and/or a segment, minus an exclusion segment: the publish
confirmation, the fan-out, A/B tests and digests all honour it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from analytics.models import HygieneAction
from channels_app.models import Channel, Delivery, Send
from channels_app.services.sends import send_create
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication
from publishing.selectors import publication_audience_of
from publishing.services.abtests import abtest_configure
from publishing.services.digests import digests_run
from publishing.services.fanout import send_materialize
from publishing.services.publish import publication_publish
from subscribers.models import Segment, Subscriber, SubscriberField
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _attribute(key: str, value) -> dict:
    return {"type": "attribute", "key": key, "op": "eq", "value": value}


@pytest.fixture
def segments(db):
    SubscriberField.objects.create(key="country", label="Country", type="text")
    SubscriberField.objects.create(key="vip", label="VIP", type="boolean")
    germans = Segment.objects.create(name="Germany", rules=_attribute("country", "DE"))
    vips = Segment.objects.create(name="VIPs", rules=_attribute("vip", True))
    return germans, vips


@pytest.fixture
def readers(topic, segments):
    """Instant email readers of the topic: 2 Germans, 1 German VIP, 2 French; 1 German without a subscription."""
    people = {
        "de1": {"country": "DE"},
        "de2": {"country": "DE"},
        "de_vip": {"country": "DE", "vip": True},
        "fr1": {"country": "FR"},
        "fr2": {"country": "FR"},
    }
    made = {}
    for name, attributes in people.items():
        made[name] = SubscriberFactory(email=f"{name}@example.com", attributes=attributes)
        SubscriptionFactory(subscriber=made[name], topic=topic)
    made["de_loner"] = SubscriberFactory(email="loner@example.com", attributes={"country": "DE"})
    return made


def _publish(publication, actor, capture, **kwargs):
    with capture(execute=True):
        return publication_publish(publication=publication, actor=actor, **kwargs)


def test_the_publish_confirmation_counts_only_the_segment_minus_the_exclusion_per_channel(
    draft, email_channel, readers, segments
):
    germans, vips = segments
    broadcast = ChannelFactory(kind="slack", audience=Channel.Audience.BROADCAST, name="Slack #news")
    broadcast.topics.add(draft.topics.first())
    assert publication_audience_of(publication=draft)["total"] == 5 + 1
    draft.segment, draft.exclude_segment = germans, vips
    draft.save(update_fields=["segment", "exclude_segment"])
    audience = publication_audience_of(publication=draft)
    email = next(row for row in audience["channels"] if row["kind"] == "email")
    assert email["recipients"] == 2
    # A segment chooses people: the topic's broadcast destinations are not part of it.
    assert audience["total"] == 2 and all(
        row["kind"] != "slack" or row["recipients"] == 0 for row in audience["channels"]
    )


def test_the_fan_out_delivers_to_the_segment_minus_the_exclusion_and_nobody_else(
    draft, publisher, email_channel, readers, segments, outbox, django_capture_on_commit_callbacks
):
    germans, vips = segments
    draft.priority, draft.segment, draft.exclude_segment = Publication.Priority.ALERT, germans, vips
    draft.save(update_fields=["priority", "segment", "exclude_segment"])
    _publish(draft, publisher, django_capture_on_commit_callbacks, confirmed_audience=2)
    delivered = set(Delivery.objects.values_list("recipient", flat=True))
    assert delivered == {"de1@example.com", "de2@example.com"}
    assert sorted(m["To"] for m in outbox()) == ["de1@example.com", "de2@example.com"]
    send = Send.objects.get(publication=draft)
    assert send.audience["segment"] == germans.rules and send.audience["broadcast"] is False


def test_a_confirmed_count_that_the_segment_no_longer_matches_is_refused(
    draft, publisher, email_channel, readers, segments
):
    draft.segment = segments[0]
    draft.save(update_fields=["segment"])
    readers["de1"].attributes = {"country": "FR"}
    readers["de1"].save(update_fields=["attributes"])
    with pytest.raises(ApplicationError) as refused:
        publication_publish(publication=draft, actor=publisher, confirmed_audience=3)
    assert refused.value.status_code == 409 and refused.value.extra["audience"] == 2


def test_a_publication_with_a_segment_and_no_topic_goes_to_every_member_by_email(
    publisher, email_channel, readers, segments, outbox, django_capture_on_commit_callbacks
):
    publication = PublicationFactory(
        title="For Germany", priority=Publication.Priority.ALERT, segment=segments[0], state=Publication.State.DRAFT
    )
    _publish(publication, publisher, django_capture_on_commit_callbacks)
    assert sorted(m["To"] for m in outbox()) == sorted(
        ["de1@example.com", "de2@example.com", "de_vip@example.com", "loner@example.com"]
    )


def test_an_ab_test_draws_its_variants_only_from_the_chosen_audience(
    draft, publisher, email_channel, readers, segments, django_capture_on_commit_callbacks
):
    draft.segment = segments[0]
    draft.save(update_fields=["segment"])
    abtest_configure(publication=draft, actor=publisher, subjects=["A", "B"], test_fraction=0.5, wait_minutes=5)
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    test_ids = set(Delivery.objects.filter(send__key__contains=":ab:").values_list("subscriber_id", flat=True))
    germans = {readers[n].pk for n in ("de1", "de2", "de_vip")}
    assert test_ids and test_ids <= germans


def test_digests_carry_a_segment_limited_topic_only_to_its_members(topic, email_channel, segments, settings):
    now = timezone.now().replace(minute=30)
    settings.DIGEST_TOP_N = 5
    topic.digest_segment = segments[1]  # VIPs only
    topic.save(update_fields=["digest_segment"])
    other = PublicationFactory(state=Publication.State.PUBLISHED, published_at=now - timedelta(hours=2))
    people = {}
    for name, attributes in {"vip": {"vip": True}, "plain": {}}.items():
        people[name] = SubscriberFactory(email=f"{name}@example.com", attributes=attributes, digest_hour=now.hour)
        SubscriptionFactory(subscriber=people[name], topic=topic, frequency="daily")
    limited = PublicationFactory(
        state=Publication.State.PUBLISHED, published_at=now - timedelta(hours=1), topics=[topic]
    )
    other.topics.add(topic)
    other.segment = segments[0]  # Germans only: nobody here
    other.save(update_fields=["segment"])
    digests_run(now=now)
    items = {d.subscriber.email: d.context["items"] for d in Delivery.objects.select_related("subscriber")}
    assert items == {"vip@example.com": [limited.pk]}


def test_the_api_takes_segment_and_exclusion_and_its_audience_honours_them(client_for, topic, readers, segments):
    germans, vips = segments
    editor = client_for(Role.EDITOR)
    created = editor.post(
        "/api/v1/publishing/publications/",
        {"title": "For Germans", "topics": [topic.slug], "segment": germans.pk, "exclude_segment": vips.pk},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (created.json()["segment"], created.json()["exclude_segment"]) == (germans.pk, vips.pk)
    pk = created.json()["id"]
    ChannelFactory(name="Email", kind="email", is_default=True)
    assert editor.get(f"/api/v1/publishing/publications/{pk}/audience/").json()["total"] == 2
    same = editor.patch(f"/api/v1/publishing/publications/{pk}/", {"exclude_segment": germans.pk}, format="json")
    assert same.status_code == 400 and "exclude_segment" in same.json()["extra"]["fields"]
    unknown = editor.patch(f"/api/v1/publishing/publications/{pk}/", {"segment": 99999}, format="json")
    assert unknown.status_code == 400 and "segment" in unknown.json()["extra"]["fields"]


def test_the_fan_out_evaluates_a_segment_once_however_many_pages_it_writes(
    settings, topic, email_channel, readers, segments
):
    """A behavioural condition costs as much for one page as for the whole list, so the fan-out
    evaluates the segment once and pages through its members; everything else is checked per page."""
    settings.DELIVERY_MATERIALIZE_CHUNK = 2
    for n in (3, 4, 5):
        SubscriptionFactory(
            subscriber=SubscriberFactory(email=f"de{n}@example.com", attributes={"country": "DE"}), topic=topic
        )
    bounced = readers["de2"]
    HygieneAction.objects.create(subscriber=bounced, email=bounced.email, kind="soft_bounce", reason="test")
    not_bounced = {"type": "not", "rule": {"type": "soft_bounced", "within_days": 30}}
    audience = {
        "topic_ids": [topic.pk],
        "frequencies": ["instant"],
        "channel_kinds": ["email"],
        "segment": {"type": "and", "rules": [_attribute("country", "DE"), not_bounced]},
        "exclude_segment": segments[1].rules,  # VIPs
    }
    send, _ = send_create(key="paged", kind=Send.Kind.ALERT, subject="Hi", content=EMAIL_CONTENT, audience=audience)
    Send.objects.filter(pk=send.pk).update(status=Send.Status.SENDING)
    with CaptureQueriesContext(connection) as queries:
        created = send_materialize(send_id=send.pk)
    expected = {"de1@example.com", "de3@example.com", "de4@example.com", "de5@example.com"}
    assert created == 4
    assert set(Delivery.objects.filter(send=send).values_list("recipient", flat=True)) == expected
    statements = [q["sql"] for q in queries]
    assert sum(s.startswith(f"INSERT INTO {Delivery._meta.db_table}") for s in statements) == 2  # pages of 2
    assert sum("analytics_hygieneaction" in s for s in statements) == 1  # the segment, once


def test_a_member_who_unsubscribes_after_the_segment_was_evaluated_is_not_sent_to(
    settings, topic, email_channel, readers, segments
):
    """Only the segment is evaluated up front: mailability and the subscription are checked again
    on every page, so the member ids carried from the first query choose nobody on their own."""
    from publishing.selectors import audience_recipients

    members = [readers["de1"].pk, readers["de2"].pk, readers["fr1"].pk, readers["de_loner"].pk]
    Subscriber.objects.filter(pk=readers["de2"].pk).update(status=Subscriber.Status.UNSUBSCRIBED)
    page = audience_recipients(
        kind="email", topic_ids=[topic.pk], frequencies=["instant"], members=members, after=0, upto=max(members)
    )
    # fr1 is not in the segment, but the page holds whoever the ids say: the ids are the segment.
    assert set(page.values_list("email", flat=True)) == {"de1@example.com", "fr1@example.com"}
    everyone = audience_recipients(kind="email", topic_ids=[], frequencies=["instant"], members=members)
    assert set(everyone.values_list("email", flat=True)) == {"de1@example.com", "fr1@example.com", "loner@example.com"}
    assert not audience_recipients(kind="slack", topic_ids=[], frequencies=["instant"], members=members).exists()
