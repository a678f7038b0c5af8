import pytest

from core.roles import Role
from subscribers.models import Topic
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db

TOPICS = "/api/v1/publishing/topics"
SUBSCRIBERS = "/api/v1/publishing/subscribers"


def test_anonymous_requests_are_refused_with_401_in_the_error_format(api_client):
    response = api_client.get(TOPICS)
    assert response.status_code == 401
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}


def test_a_user_without_a_role_is_refused(client_for):
    assert client_for(None).get(TOPICS).status_code == 403


@pytest.mark.parametrize("role", list(Role))
def test_every_role_can_read_topics(client_for, role):
    TopicFactory(slug="security")
    response = client_for(role).get(TOPICS)
    assert response.status_code == 200
    assert [t["slug"] for t in response.json()] == ["security"]


def test_a_viewer_cannot_create_a_topic(client_for):
    response = client_for(Role.VIEWER).post(TOPICS, {"slug": "news", "name": "News"})
    assert response.status_code == 403
    assert response.json()["message"] == "Your role does not allow this."
    assert not Topic.objects.exists()


@pytest.mark.parametrize("role", [Role.EDITOR, Role.PUBLISHER, Role.ADMIN])
def test_editors_and_above_manage_topics(client_for, role):
    client = client_for(role)
    created = client.post(TOPICS, {"slug": "news", "name": "News"})
    assert created.status_code == 201, created.json()
    assert client.patch(f"{TOPICS}/news", {"name": "All news"}).json()["name"] == "All news"
    assert client.delete(f"{TOPICS}/news").status_code == 204
    assert not Topic.objects.exists()


def test_a_bad_topic_gets_field_errors_and_writes_nothing(client_for):
    TopicFactory(slug="news")
    response = client_for(Role.EDITOR).post(TOPICS, {"slug": "news", "name": ""})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Validation error"
    assert set(body["extra"]["fields"]) == {"slug", "name"}
    assert Topic.objects.count() == 1


def test_malformed_json_is_a_400_not_a_500(client_for):
    response = client_for(Role.EDITOR).post(TOPICS, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["message"]


def test_unknown_api_path_is_a_json_404(client_for):
    response = client_for(Role.VIEWER).get("/api/v1/publishing/topics/does-not-exist")
    assert response.status_code == 404
    assert response.json()["message"]


def test_subscribers_list_is_paginated_and_filterable(client_for):
    news = TopicFactory(slug="news")
    SubscriptionFactory(topic=news, subscriber=SubscriberFactory(email="a@example.com"))
    SubscriberFactory(email="b@example.com", status="pending")
    client = client_for(Role.VIEWER)

    everyone = client.get(SUBSCRIBERS).json()
    assert len(everyone["results"]) == 2 and everyone["next"] is None
    assert len(client.get(SUBSCRIBERS, {"topic": "news"}).json()["results"]) == 1
    assert client.get(SUBSCRIBERS, {"status": "pending"}).json()["results"][0]["email"] == "b@example.com"
    assert len(client.get(SUBSCRIBERS, {"search": "A@EXAMPLE"}).json()["results"]) == 1


def test_subscribers_are_paged_by_cursor_newest_first(client_for):
    emails = [SubscriberFactory(email=f"p{i}@example.com").email for i in range(5)]
    client = client_for(Role.VIEWER)
    first = client.get(SUBSCRIBERS, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()
    seen = [s["email"] for page in (first, second, third) for s in page["results"]]
    assert seen == list(reversed(emails)) and third["next"] is None


def test_subscribers_list_rejects_a_bad_filter_with_field_errors(client_for):
    response = client_for(Role.VIEWER).get(SUBSCRIBERS, {"status": "vip", "created_after": "yesterday"})
    assert response.status_code == 400
    assert set(response.json()["extra"]["fields"]) == {"status", "created_after"}


def test_posting_to_subscribers_is_create_or_update_by_email(client_for):
    response = client_for(Role.ADMIN).post(SUBSCRIBERS, {"email": "x@example.com"})
    assert response.status_code == 202  # issue 4; details in tests/subscribers/test_api_subscribers.py


def test_session_auth_works_for_admin_users(client, make_user):
    user = make_user(Role.VIEWER)
    client.force_login(user)
    assert client.get(TOPICS).status_code == 200
