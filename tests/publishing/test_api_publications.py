"""/api/v1/publishing/publications: CRUD, workflow actions, stats, and clear errors for bad input."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.models import Send
from core.roles import Role
from publishing.models import Publication
from tests.factories import DeliveryFactory, PublicationFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/publishing/publications"


@pytest.fixture
def as_editor(client_for):
    return client_for(Role.EDITOR)


@pytest.fixture
def as_publisher(client_for):
    return client_for(Role.PUBLISHER)


def test_an_editor_creates_a_draft_with_topics_by_slug(as_editor, topic):
    response = as_editor.post(
        BASE,
        {"title": "Launch day", "body": "We **launched**.", "topics": ["news"], "quality_score": 0.7},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["slug"], body["topics"], body["author"]) == (
        "draft",
        "launch-day",
        ["news"],
        as_editor.user.username,
    )
    assert body["archive_url"].endswith("/archive/launch-day/")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "x", "topics": ["no-such-topic"]}, "topics"),
        ({"title": "x", "body": "<script>alert(1)</script>"}, "body"),
        ({"title": "x", "body": '<a href="javascript:alert(1)">x</a>'}, "body"),
        ({"title": "x", "quality_score": 3}, "quality_score"),
        ({"title": "x", "priority": "urgent"}, "priority"),
        ({"title": ""}, "title"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"title": "x", "canonical_url": "javascript:alert(1)"}, "canonical_url"),
    ],
)
def test_bad_input_gets_a_clear_field_error_and_creates_nothing(as_editor, topic, payload, field):
    response = as_editor.post(BASE, payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["message"] and field in body["extra"]["fields"], body
    assert not Publication.objects.exists()


def test_an_editor_cannot_publish_and_nothing_changes(as_editor, draft):
    response = as_editor.post(f"{BASE}/{draft.pk}/publish", {}, format="json")
    assert response.status_code == 403
    assert response.json() == {"message": "This needs the publisher role.", "extra": {}}
    draft.refresh_from_db()
    assert draft.state == "draft" and not Send.objects.exists()


def test_a_viewer_reads_but_cannot_write(client_for, draft):
    viewer = client_for(Role.VIEWER)
    assert viewer.get(BASE).status_code == 200
    assert viewer.post(BASE, {"title": "x"}, format="json").status_code == 403
    assert viewer.patch(f"{BASE}/{draft.pk}", {"title": "y"}, format="json").status_code == 403


def test_publish_at_in_the_past_is_a_field_error(as_publisher, draft):
    past = (timezone.now() - timedelta(hours=1)).isoformat()
    response = as_publisher.post(f"{BASE}/{draft.pk}/publish", {"publish_at": past}, format="json")
    assert response.status_code == 400
    assert "publish_at" in response.json()["extra"]["fields"]
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_a_malformed_publish_at_is_a_field_error_not_a_500(as_publisher, draft):
    response = as_publisher.post(f"{BASE}/{draft.pk}/publish", {"publish_at": "tomorrow-ish"}, format="json")
    assert response.status_code == 400 and "publish_at" in response.json()["extra"]["fields"]


def test_the_editorial_flow_through_the_api(
    as_editor, as_publisher, topic, email_channel, make_readers, django_capture_on_commit_callbacks
):
    make_readers(3)
    created = as_editor.post(BASE, {"title": "Flow", "body": "Body", "topics": ["news"]}, format="json").json()
    url = f"{BASE}/{created['id']}"
    assert as_editor.post(f"{url}/submit").json()["state"] == "in_review"
    audience = as_editor.get(f"{url}/audience").json()
    assert audience["total"] == 3 and audience["channels"][0] == {
        "kind": "email",
        "channel_id": email_channel.pk,
        "channel": email_channel.name,
        "recipients": 3,
    }
    when = (timezone.now() + timedelta(hours=2)).isoformat()
    scheduled = as_publisher.post(f"{url}/publish", {"publish_at": when, "confirm_audience": 3}, format="json").json()
    assert scheduled["state"] == "scheduled" and scheduled["approved_by"] == as_publisher.user.username
    assert as_publisher.post(f"{url}/return-to-draft", {"note": "later"}, format="json").json()["state"] == "draft"
    with django_capture_on_commit_callbacks(execute=True):
        published = as_publisher.post(f"{url}/publish", {"confirm_audience": 3}, format="json").json()
    assert published["state"] == "published"
    detail = as_publisher.get(url).json()
    assert detail["deliveries"]["total"] == 3 and detail["deliveries"]["by_state"]["sent"] == 3
    again = as_publisher.post(f"{url}/publish", {}, format="json")
    assert again.status_code == 200 and Send.objects.count() == 1
    assert as_publisher.post(f"{url}/archive").json()["state"] == "archived"


def test_a_changed_audience_is_a_409_with_the_new_size(as_publisher, draft, email_channel, make_readers):
    make_readers(2)
    response = as_publisher.post(f"{BASE}/{draft.pk}/publish", {"confirm_audience": 10}, format="json")
    assert response.status_code == 409 and response.json()["extra"]["audience"] == 2


def test_the_detail_has_delivery_counts_per_channel_and_engagement_without_n_plus_one(
    as_publisher, draft, email_channel, django_assert_max_num_queries
):
    from django.utils import timezone

    from analytics.models import EngagementEvent
    from analytics.services.events import DeliveryInfo, events_record
    from analytics.services.rollups import rollups_update

    send = Send.objects.create(key="k", kind="newsletter", publication=draft)
    now = timezone.now()
    deliveries = [DeliveryFactory(send=send, channel=email_channel, state="sent", sent_at=now) for _ in range(5)]
    DeliveryFactory(send=send, channel=email_channel, state="failed")
    hits = [(0, "open", False), (0, "open", False), (1, "open", True), (2, "click", False)]
    events_record(  # the path tracking hits take, so the rollups see them
        events=[
            EngagementEvent(delivery=deliveries[i], kind=kind, is_machine=machine, occurred_at=now, dedupe_key=f"t{n}")
            for n, (i, kind, machine) in enumerate(hits)
        ],
        deliveries={d.pk: DeliveryInfo(d.pk, send.pk, email_channel.pk, d.subscriber_id, now) for d in deliveries},
    )
    rollups_update()
    with django_assert_max_num_queries(12):
        body = as_publisher.get(f"{BASE}/{draft.pk}").json()
    [channel] = body["deliveries"]["by_channel"]
    assert (channel["channel"], channel["total"], channel["states"]["sent"], channel["states"]["failed"]) == (
        email_channel.name,
        6,
        5,
        1,
    )
    engagement = body["engagement"]
    assert (engagement["opens"], engagement["unique_opens"], engagement["machine_opens"]) == (2, 1, 1)
    assert (engagement["unique_clicks"], engagement["handed_to_provider"], engagement["open_rate"]) == (1, 5, 0.2)
    assert body["sends"][0]["key"] == "k"


def test_the_list_filters_by_state_and_topic(as_editor, topic):
    PublicationFactory(topics=[topic], published=True, title="On")
    PublicationFactory(title="Off")
    assert [p["title"] for p in as_editor.get(f"{BASE}?state=published").json()["results"]] == ["On"]
    assert [p["title"] for p in as_editor.get(f"{BASE}?topic=news").json()["results"]] == ["On"]


def test_preview_renders_unsaved_edits_for_every_channel(as_editor, draft):
    response = as_editor.post(f"{BASE}/{draft.pk}/preview", {"title": "Changed title"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["email"]["subject"] == "Changed title" and body["discord"]["embeds"][0]["title"] == "Changed title"
    draft.refresh_from_db()
    assert draft.title == "Quarterly results"


def test_test_send_through_the_api(as_editor, draft, email_channel, outbox):
    response = as_editor.post(f"{BASE}/{draft.pk}/test", {"channel": email_channel.pk}, format="json")
    assert response.status_code == 200 and response.json()["recipient"] == as_editor.user.email
    assert outbox()[0]["Subject"] == "[TEST] Quarterly results"


def test_ab_test_configuration_and_results(as_editor, draft):
    url = f"{BASE}/{draft.pk}/ab-test"
    response = as_editor.put(url, {"subjects": ["One", "Two"], "metric": "clicks", "wait_minutes": 45}, format="json")
    assert response.status_code == 200, response.json()
    body = as_editor.get(url).json()
    assert (body["subjects"], body["metric"], body["status"]) == (["One", "Two"], "clicks", "draft")
    assert [r["variant"] for r in body["results"]] == ["A", "B"]
    assert as_editor.get(f"{BASE}/{draft.pk}").json()["ab_test"]["wait_minutes"] == 45
    bad = as_editor.put(url, {"subjects": ["Only"]}, format="json")
    assert bad.status_code == 400 and "subjects" in bad.json()["extra"]["fields"]


def test_deleting_a_draft_works_and_a_published_one_is_refused(as_editor, as_publisher, draft, topic):
    published = PublicationFactory(topics=[topic], published=True)
    assert as_publisher.delete(f"{BASE}/{published.pk}").status_code == 400
    assert as_editor.delete(f"{BASE}/{draft.pk}").status_code == 204


def test_the_schema_documents_the_publication_endpoints(client):
    schema = client.get("/api/schema/").content.decode()
    for action in ("publish", "submit", "return-to-draft", "archive", "audience", "preview", "test", "ab-test"):
        assert f"/api/v1/publishing/publications/{{id}}/{action}/:" in schema
