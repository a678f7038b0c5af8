"""The publish page warns about what was published lately to an overlapping audience (a shared
topic or the same segment), says what and when, and still lets the publisher go ahead."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from core.roles import Role
from publishing.services.overlap import overlap_rows, recent_overlaps
from subscribers.models import Segment
from tests.factories import PublicationFactory, TopicFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/publication"
WARNING = "to an overlapping audience"


@pytest.fixture
def publisher_client(client, publisher):
    client.force_login(publisher)
    return client


@pytest.fixture
def segment(db):
    return Segment.objects.create(name="Active", rules={"type": "status", "op": "eq", "value": "active"})


def _published(hours_ago: float, **kwargs):
    return PublicationFactory(state="published", published_at=timezone.now() - timedelta(hours=hours_ago), **kwargs)


def test_the_warning_shows_what_and_when_and_the_publisher_can_still_publish(
    publisher_client, draft, topic, email_channel, django_capture_on_commit_callbacks
):
    earlier = _published(3, title="Morning numbers", topics=[topic])
    page = publisher_client.get(f"{ADMIN}/{draft.pk}/publish/").content.decode()
    assert WARNING in page and "in the last 24 hours" in page
    assert f'href="{ADMIN}/{earlier.pk}/change/">Morning numbers</a>' in page
    assert "3\xa0hours ago" in page and "shares News" in page
    assert earlier.published_at.strftime("%Y-%m-%d %H:%M") in page
    with django_capture_on_commit_callbacks(execute=True):
        done = publisher_client.post(f"{ADMIN}/{draft.pk}/publish/", {"confirmed_total": 0, "confirm": "on"})
    assert done.status_code == 302
    draft.refresh_from_db()
    assert draft.state == "published"


def test_no_warning_for_old_other_audience_unpublished_or_itself(publisher_client, draft, topic, email_channel):
    other_topic = TopicFactory(slug="sports", name="Sports")
    _published(30, title="Yesterday's", topics=[topic])  # older than 24 h
    _published(1, title="Other topic", topics=[other_topic])
    PublicationFactory(title="Scheduled one", state="scheduled", publish_at=timezone.now(), topics=[topic])
    page = publisher_client.get(f"{ADMIN}/{draft.pk}/publish/").content.decode()
    assert WARNING not in page
    assert list(recent_overlaps(publication=draft)) == []


def test_the_same_segment_overlaps_and_the_window_is_configurable(settings, draft, segment, topic):
    draft.segment = segment
    draft.save(update_fields=["segment"])
    other_topic = TopicFactory(slug="sports", name="Sports")
    by_segment = _published(2, title="Segment send", topics=[other_topic], segment=segment)
    both = _published(5, title="Both", topics=[topic, other_topic], segment=segment)
    _published(40, title="Two days ago", topics=[topic])
    rows = overlap_rows(publication=draft)
    assert [(r["title"], r["shared"]) for r in rows] == [
        ("Segment send", ["segment Active"]),
        ("Both", ["News", "segment Active"]),
    ]
    assert {r["id"] for r in rows} == {by_segment.pk, both.pk}
    settings.PUBLISH_OVERLAP_WARNING_HOURS = 48
    assert [r["title"] for r in overlap_rows(publication=draft)] == ["Segment send", "Both", "Two days ago"]
    settings.PUBLISH_OVERLAP_WARNING_HOURS = 0
    assert overlap_rows(publication=draft) == []


def test_the_api_audience_lists_recent_overlaps(client_for, draft, topic, email_channel):
    earlier = _published(2, title="Earlier today", topics=[topic])
    body = client_for(Role.EDITOR).get(f"/api/v1/publishing/publications/{draft.pk}/audience").json()
    assert [(r["id"], r["title"], r["shared"]) for r in body["recent_overlaps"]] == [
        (earlier.pk, "Earlier today", ["News"])
    ]
    assert "published_at" in body["recent_overlaps"][0] and "total" in body
