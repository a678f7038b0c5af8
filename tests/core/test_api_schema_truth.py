"""What /api/schema/ promises, the API does (issue 11, item 11), pinned case by case; the broad
search is tests/core/test_schemathesis.py."""

from __future__ import annotations

import pytest
import yaml

from core.roles import Role
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/publishing"


@pytest.fixture
def document(client) -> dict:
    return yaml.safe_load(client.get("/api/schema/").content)


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method.upper(), path, operation


def test_every_operation_documents_its_errors_with_the_error_schema(document):
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        expected = {"400", "401", "403", "429"} | ({"404"} if "{" in path else set())
        if method in ("POST", "PUT", "PATCH"):
            expected |= {"413", "415"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in expected:
            schema = responses[code]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    error = document["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"message", "extra"}


def test_workflow_actions_document_409(document):
    for action in ("publish", "submit", "return-to-draft", "archive"):
        assert "409" in document["paths"][f"{API}/publications/{{id}}/{action}/"]["post"]["responses"]
    assert "409" in document["paths"][f"{API}/publications/{{id}}/ab-test/"]["put"]["responses"]


def test_nullable_fields_are_declared_nullable(document):
    publication = document["components"]["schemas"]["Publication"]["properties"]
    assert publication["author"]["nullable"] is True and publication["approved_by"]["nullable"] is True


@pytest.mark.parametrize(("component", "field"), [("Publication", "canonical_url"), ("Subscriber", "webhook_url")])
def test_a_blank_url_is_declared_where_one_is_served(document, client_for, component, field):
    declared = document["components"]["schemas"][component]["properties"][field]
    assert {"type": "string", "maxLength": 0} in declared["oneOf"]
    PublicationFactory(canonical_url="")
    SubscriberFactory(webhook_url="")
    path = "publications" if component == "Publication" else "subscribers"
    [row] = client_for(Role.VIEWER).get(f"{API}/{path}").json()["results"]
    assert row[field] == ""


def test_strict_request_bodies_declare_that_they_refuse_unknown_fields(document):
    schemas = document["components"]["schemas"]
    for name in ("PublishInputRequest", "SubscriberCreateRequest", "TopicRequest", "ChannelRequest"):
        assert schemas[name]["additionalProperties"] is False, name


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("topics", {"slug": "a", "name": "A", "is_public": 0}, "is_public"),
        ("topics", {"slug": "a", "name": 7}, "name"),
        ("publications", {"title": 0}, "title"),
        ("publications", {"title": "T", "quality_score": "0.5"}, "quality_score"),
        ("subscribers", {"email": "a@example.com", "confirmed": "yes"}, "confirmed"),
        ("subscribers", {"email": "a@example.com", "topics": "news"}, "topics"),
    ],
)
def test_a_value_of_another_json_type_is_refused_not_coerced(client_for, path, payload, field):
    response = client_for(Role.ADMIN).post(f"{API}/{path}", payload, format="json")
    assert response.status_code == 400, response.content[:200]
    assert field in response.json()["extra"]["fields"]


def test_a_test_send_names_its_channel_by_integer_id(client_for):
    publication = PublicationFactory()
    channel = ChannelFactory()
    response = client_for(Role.EDITOR).post(
        f"{API}/publications/{publication.pk}/test", {"channel": str(channel.pk)}, format="json"
    )
    assert response.status_code == 400 and "channel" in response.json()["extra"]["fields"]


@pytest.mark.parametrize("value", ["null", "0", "-1", "1.5", ""])
@pytest.mark.parametrize("path", ["subscribers", "channels", "sends"])
def test_an_invalid_page_size_is_a_field_error(client_for, path, value):
    response = client_for(Role.VIEWER).get(f"{API}/{path}", {"page_size": value})
    assert response.status_code == 400, response.content[:200]
    assert "page_size" in response.json()["extra"]["fields"]


def test_a_page_size_over_the_maximum_is_capped(client_for):
    TopicFactory()
    ChannelFactory.create_batch(2)
    response = client_for(Role.VIEWER).get(f"{API}/channels", {"page_size": 100000})
    assert response.status_code == 200 and len(response.json()["results"]) == 2


@pytest.mark.parametrize("value", ["", "abc", "last", "-1"])
def test_an_invalid_page_number_is_a_404_in_the_error_format(client_for, value):
    response = client_for(Role.VIEWER).get(f"{API}/channels", {"page": value})
    assert response.status_code == 404 and response.json()["message"].startswith("Invalid page")


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("analytics/engagement", "start_date"),
        ("analytics/performance", "end_date"),
        ("subscribers", "created_after"),
        ("subscribers", "status"),
        ("publications", "priority"),
    ],
)
def test_a_blank_typed_query_parameter_is_an_error_not_ignored(client_for, path, name):
    response = client_for(Role.VIEWER).get(f"{API}/{path}?{name}=")
    assert response.status_code == 400, response.content[:200]
    assert name in response.json()["extra"]["fields"]


def test_blank_text_filters_still_mean_no_filter(client_for):
    SubscriberFactory()
    response = client_for(Role.VIEWER).get(f"{API}/subscribers?search=&topic=")
    assert response.status_code == 200 and len(response.json()["results"]) == 1
