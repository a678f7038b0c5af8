"""Segments name topics by slug: renaming a topic carries the new slug into them, and a topic a
segment names cannot be deleted, through the API, the admin or the shell alike."""

import pytest
from django.contrib.admin.models import DELETION, LogEntry

from core.exceptions import ApplicationError
from core.roles import Role
from subscribers.models import Segment, Topic
from subscribers.services.topics import topic_delete, topic_update
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/topics/"


@pytest.fixture
def news():
    return TopicFactory(slug="news", name="News")


@pytest.fixture
def readers_segment(news):
    rules = {
        "type": "or",
        "rules": [
            {"type": "topic", "topic": "news"},
            {"type": "not", "rule": {"type": "activity", "action": "opened", "within_days": 30, "topic": "news"}},
        ],
    }
    return Segment.objects.create(name="News readers", rules=rules)


def test_renaming_a_topic_carries_the_new_slug_into_the_segments_naming_it(client_for, news, readers_segment):
    reader = SubscriberFactory()
    SubscriptionFactory(subscriber=reader, topic=news)
    response = client_for(Role.EDITOR).patch(f"{URL}news/", {"slug": "headlines"}, format="json")
    assert response.status_code == 200 and response.json()["slug"] == "headlines"
    readers_segment.refresh_from_db()
    assert readers_segment.rules["rules"][0]["topic"] == "headlines"
    assert readers_segment.rules["rules"][1]["rule"]["topic"] == "headlines"
    preview = client_for(Role.VIEWER).get(f"/api/v1/publishing/segments/{readers_segment.pk}/preview/")
    assert preview.status_code == 200 and reader.pk in [row["id"] for row in preview.json()["results"]]


def test_a_topic_a_segment_names_cannot_be_deleted_anywhere(client_for, admin_client, news, readers_segment):
    response = client_for(Role.EDITOR).delete(f"{URL}news/")
    assert response.status_code == 409 and "News readers" in response.json()["message"]
    page = admin_client.post(f"/admin/subscribers/topic/{news.pk}/delete/", {"post": "yes"}, follow=True)
    assert page.status_code == 200 and "Not deleted: In use by segment News readers" in page.content.decode()
    other = TopicFactory(slug="other")
    action = admin_client.post(
        "/admin/subscribers/topic/",
        {"action": "delete_selected", "_selected_action": [news.pk, other.pk], "post": "yes"},
        follow=True,
    )
    assert "Not done: In use by segment News readers" in action.content.decode()
    assert set(Topic.objects.values_list("slug", flat=True)) == {"news", "other"}  # all or none
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()  # no history of deletions that did not happen
    readers_segment.delete()
    assert client_for(Role.EDITOR).delete(f"{URL}news/").status_code == 204


def test_the_admin_rename_and_the_shell_go_through_the_same_service(admin_client, make_user, news, readers_segment):
    form = {"slug": "world", "name": "World", "description": "", "is_public": "on", "tracking_enabled": "on"}
    assert admin_client.post(f"/admin/subscribers/topic/{news.pk}/change/", form).status_code == 302
    readers_segment.refresh_from_db()
    assert readers_segment.rules["rules"][0]["topic"] == "world"
    with pytest.raises(ApplicationError):
        topic_update(topic=Topic.objects.get(), actor=make_user(Role.VIEWER), slug="x")
    with pytest.raises(ApplicationError) as refused:
        topic_delete(topic=Topic.objects.get(), actor=make_user(Role.EDITOR))
    assert refused.value.status_code == 409


def test_the_api_sets_a_topics_digest_segment_and_tracking(client_for, news, readers_segment):
    editor = client_for(Role.EDITOR)
    response = editor.patch(
        f"{URL}news/", {"digest_segment": readers_segment.pk, "tracking_enabled": False}, format="json"
    )
    assert response.status_code == 200, response.content
    news.refresh_from_db()
    assert news.digest_segment_id == readers_segment.pk and news.tracking_enabled is False
    assert editor.patch(f"{URL}news/", {"digest_segment": 999999}, format="json").status_code == 400


def test_automations_triggered_by_a_topic_follow_its_rename_and_hold_it(client_for, news, make_user):
    from publishing.automation_models import Automation, AutomationStep

    joined = Automation.objects.create(name="Welcome to news", trigger="topic_joined", trigger_config={"topic": "news"})
    editor = client_for(Role.EDITOR)
    assert editor.patch(f"{URL}news/", {"slug": "headlines"}, format="json").status_code == 200
    joined.refresh_from_db()
    assert joined.trigger_config == {"topic": "headlines"}
    refused = editor.delete(f"{URL}headlines/")
    assert refused.status_code == 409 and "automation Welcome to news" in refused.json()["message"]
    joined.delete()
    adder = Automation.objects.create(name="Adds news", trigger="manual")
    AutomationStep.objects.create(automation=adder, position=0, kind="topic_add", topic=news)
    by_step = editor.delete(f"{URL}headlines/")
    assert by_step.status_code == 409 and "Automation steps" in by_step.json()["message"]
    assert Topic.objects.filter(pk=news.pk).exists()


def test_a_segment_an_automation_enters_on_cannot_be_deleted(client_for, readers_segment):
    from publishing.automation_models import Automation

    Automation.objects.create(name="Entered", trigger="segment_entered", trigger_config={"segment": readers_segment.pk})
    response = client_for(Role.EDITOR).delete(f"/api/v1/publishing/segments/{readers_segment.pk}/")
    assert response.status_code == 409 and "automation Entered (trigger)" in response.json()["message"]
    assert Segment.objects.filter(pk=readers_segment.pk).exists()
