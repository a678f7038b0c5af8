from __future__ import annotations

import pytest

from core.roles import Role
from subscribers.models import Segment, Subscriber, SubscriberField
from subscribers.segments.rules import MAX_DEPTH, MAX_GROUP_RULES
from tests.factories import PublicationFactory, SubscriberFactory, SuppressionFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/publishing/segments/"
GERMANS = {"type": "and", "rules": [{"type": "attribute", "key": "country", "op": "eq", "value": "DE"}]}


@pytest.fixture
def country(db):
    return SubscriberField.objects.create(key="country", label="Country", type="choice", choices=["DE", "FR"])


def test_an_editor_creates_lists_changes_and_deletes_a_segment(client_for, country):
    editor = client_for(Role.EDITOR)
    created = editor.post(BASE, {"name": "Germany", "rules": GERMANS}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert editor.get(BASE).json()["results"][0]["name"] == "Germany"
    changed = editor.patch(f"{BASE}{pk}/", {"name": "Deutschland"}, format="json")
    assert changed.json()["name"] == "Deutschland"
    assert editor.delete(f"{BASE}{pk}/").status_code == 204
    assert not Segment.objects.exists()


def test_viewers_read_segments_but_cannot_write_them(client_for, country):
    viewer = client_for(Role.VIEWER)
    assert viewer.get(BASE).status_code == 200
    response = viewer.post(BASE, {"name": "Germany", "rules": GERMANS}, format="json")
    assert response.status_code == 403
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("rules", "path", "words"),
    [
        (
            {"type": "and", "rules": [{"type": "never_opened"}, {"type": "field", "field": "shoe_size", "op": "eq"}]},
            "rules[1]",
            "Unknown subscriber field",
        ),
        (
            {
                "type": "or",
                "rules": [
                    {"type": "never_opened"},
                    {"type": "and", "rules": [{"type": "attribute", "key": "country", "op": "eq", "value": 3}]},
                ],
            },
            "rules[1].rules[0]",
            "expected text",
        ),
        (
            {"type": "not", "rule": {"type": "attribute", "key": "country", "op": "range", "value": {"min": "DE"}}},
            "rules.rule",
            "does not apply",
        ),
        ({"type": "attribute", "key": "plan", "op": "eq", "value": "x"}, "rules", "Unknown custom field"),
        ({"type": "and", "rules": [{"type": "teleport"}]}, "rules[0]", "Unknown rule type"),
        ({"type": "activity", "action": "opened", "within_days": 0}, "rules", "within_days"),
        ("not a tree", "rules", "JSON object"),
    ],
)
def test_a_bad_rule_is_refused_with_a_400_naming_its_node(client_for, country, rules, path, words):
    response = client_for(Role.EDITOR).post(BASE, {"name": "Bad", "rules": rules}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert path in body["extra"]["fields"], body
    assert words in " ".join(body["extra"]["fields"][path])
    assert not Segment.objects.exists()


def _nested(depth: int) -> dict:
    node: dict = {"type": "never_opened"}
    for _ in range(depth):
        node = {"type": "and", "rules": [node]}
    return node


def test_a_tree_deeper_than_the_limit_is_refused_and_one_at_the_limit_is_accepted(client_for):
    editor = client_for(Role.EDITOR)
    assert editor.post(BASE, {"name": "Deep", "rules": _nested(MAX_DEPTH)}, format="json").status_code == 201
    response = editor.post(BASE, {"name": "Too deep", "rules": _nested(MAX_DEPTH + 1)}, format="json")
    assert response.status_code == 400
    assert "levels deep" in str(response.json()["extra"]["fields"])


def test_a_group_wider_than_the_limit_is_refused(client_for):
    wide = {"type": "or", "rules": [{"type": "never_opened"}] * (MAX_GROUP_RULES + 1)}
    response = client_for(Role.EDITOR).post(BASE, {"name": "Wide", "rules": wide}, format="json")
    assert response.status_code == 400
    assert f"at most {MAX_GROUP_RULES} rules" in response.json()["extra"]["fields"]["rules"][0]


def test_the_preview_counts_mailable_members_and_returns_a_page_of_them(client_for, country, settings):
    settings.SEGMENT_PREVIEW_PAGE_SIZE = 2
    germans = [SubscriberFactory(attributes={"country": "DE"}) for _ in range(3)]
    SubscriberFactory(attributes={"country": "FR"})
    SubscriberFactory(attributes={"country": "DE"}, status="unsubscribed")
    SuppressionFactory(email=SubscriberFactory(attributes={"country": "DE"}).email)
    editor = client_for(Role.EDITOR)
    pk = editor.post(BASE, {"name": "Germany", "rules": GERMANS}, format="json").json()["id"]
    first = client_for(Role.VIEWER).get(f"{BASE}{pk}/preview/").json()
    assert first["count"] == 3
    assert [row["id"] for row in first["results"]] == [germans[2].pk, germans[1].pk]
    second = client_for(Role.VIEWER).get(f"{BASE}{pk}/preview/?page=2").json()
    assert [row["id"] for row in second["results"]] == [germans[0].pk]


def test_an_unsaved_tree_is_previewed_and_a_bad_one_refused_by_node(client_for, country):
    SubscriberFactory(attributes={"country": "DE"})
    editor = client_for(Role.EDITOR)
    assert editor.post(f"{BASE}preview/", {"rules": GERMANS}, format="json").json()["count"] == 1
    bad = editor.post(f"{BASE}preview/", {"rules": {"type": "or", "rules": [{"type": "x"}]}}, format="json")
    assert bad.status_code == 400
    assert "rules[0]" in bad.json()["extra"]["fields"]


def test_a_segment_used_by_a_publication_cannot_be_deleted(client_for, country):
    editor = client_for(Role.EDITOR)
    pk = editor.post(BASE, {"name": "Germany", "rules": GERMANS}, format="json").json()["id"]
    PublicationFactory(segment_id=pk)
    response = editor.delete(f"{BASE}{pk}/")
    assert response.status_code == 409
    assert Segment.objects.filter(pk=pk).exists()


def test_custom_fields_are_managed_by_publishers_and_type_checked(client_for):
    publisher, editor = client_for(Role.PUBLISHER), client_for(Role.EDITOR)
    url = "/api/v1/publishing/subscriber-fields/"
    assert editor.post(url, {"key": "age", "label": "Age", "type": "number"}, format="json").status_code == 403
    created = publisher.post(url, {"key": "age", "label": "Age", "type": "number", "default": "7"}, format="json")
    assert created.status_code == 201 and created.json()["default"] == 7
    bad = publisher.post(url, {"key": "Bad Key", "label": "x", "type": "choice"}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["extra"]["fields"]) == {"key", "choices"}
    change_type = publisher.patch(f"{url}{created.json()['id']}/", {"type": "text"}, format="json")
    assert change_type.status_code == 400
    assert editor.get(url).json()[0]["key"] == "age"


def test_api_writes_of_attributes_are_checked_against_custom_fields(client_for):
    SubscriberField.objects.create(key="age", label="Age", type="number")
    client = client_for(Role.PUBLISHER)
    bad = client.post(
        "/api/v1/publishing/subscribers/", {"email": "a@example.com", "attributes": {"age": "old"}}, format="json"
    )
    assert bad.status_code == 400
    assert "attributes.age" in bad.json()["extra"]["fields"]
    good = client.post(
        "/api/v1/publishing/subscribers/", {"email": "a@example.com", "attributes": {"age": "42"}}, format="json"
    )
    assert good.status_code == 202
    subscriber = Subscriber.objects.get(email="a@example.com")
    assert subscriber.attributes == {"age": 42}, "stored typed"
    pk = subscriber.pk
    patch = client.patch(f"/api/v1/publishing/subscribers/{pk}/", {"attributes": {"age": True}}, format="json")
    assert patch.status_code == 400 and "attributes.age" in patch.json()["extra"]["fields"]


def test_segments_and_subscriber_fields_are_in_the_openapi_schema(client_for):
    schema = client_for(Role.VIEWER).get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/publishing/segments/",
        "/api/v1/publishing/segments/{id}/",
        "/api/v1/publishing/segments/{id}/preview/",
        "/api/v1/publishing/subscriber-fields/",
    ):
        assert any(p.rstrip("/") == path.rstrip("/") for p in paths), path
    publication = schema["components"]["schemas"]["PublicationWriteRequest"]["properties"]
    assert {"segment", "exclude_segment"} <= set(publication)


def test_date_times_with_any_offset_python_reads_are_compared_in_utc(client_for):
    """PostgreSQL takes offsets up to ±15:59 only: `+20:00` reached the query and was a 500,
    after the segment had been saved."""
    from datetime import UTC, datetime

    early = SubscriberFactory()
    Subscriber.objects.filter(pk=early.pk).update(created_at=datetime(2025, 1, 1, 1, 0, tzinfo=UTC))
    late = SubscriberFactory()
    Subscriber.objects.filter(pk=late.pk).update(created_at=datetime(2025, 1, 1, 6, 0, tzinfo=UTC))
    editor = client_for(Role.EDITOR)
    # 2025-01-02T00:00+20:00 is 2025-01-01T04:00 UTC: only the later subscriber is after it.
    rules = {"type": "field", "field": "created_at", "op": "range", "value": {"min": "2025-01-02T00:00:00+20:00"}}
    created = editor.post(BASE, {"name": "Late", "rules": rules}, format="json")
    assert created.status_code == 201, created.content
    preview = client_for(Role.VIEWER).get(f"{BASE}{created.json()['id']}/preview/")
    assert preview.status_code == 200 and [row["id"] for row in preview.json()["results"]] == [late.pk]
    off_calendar = {
        "type": "field",
        "field": "created_at",
        "op": "range",
        "value": {"max": "9999-12-31T23:00:00-05:00"},
    }
    refused = editor.post(f"{BASE}preview/", {"rules": off_calendar}, format="json")
    assert refused.status_code == 400 and "date-time" in str(refused.json()["extra"]["fields"]["rules"])


@pytest.mark.parametrize("value", [10**400, -(2**53) - 1, 1e300])
def test_numbers_beyond_what_json_keeps_exactly_are_refused_not_a_500(client_for, value):
    rules = {"type": "field", "field": "engagement_score", "op": "range", "value": {"min": value}}
    response = client_for(Role.EDITOR).post(f"{BASE}preview/", {"rules": rules}, format="json")
    assert response.status_code == 400
    assert "numbers are between" in str(response.json()["extra"]["fields"]["rules"])


def test_a_tree_of_more_nodes_than_the_limit_or_a_longer_list_is_refused_naming_the_limit(client_for, country):
    from subscribers.segments.rules import MAX_LIST_VALUES, MAX_NODES

    leaf = {"type": "never_opened"}
    groups = [{"type": "or", "rules": [leaf] * 9} for _ in range(MAX_NODES // 10 + 1)]  # 10 nodes each
    too_many = {"type": "and", "rules": groups}
    editor = client_for(Role.EDITOR)
    response = editor.post(f"{BASE}preview/", {"rules": too_many}, format="json")
    assert response.status_code == 400 and f"at most {MAX_NODES} are allowed" in str(response.json()["extra"])
    long_list = {"type": "attribute", "key": "country", "op": "in", "value": ["DE"] * (MAX_LIST_VALUES + 1)}
    response = editor.post(f"{BASE}preview/", {"rules": long_list}, format="json")
    assert response.status_code == 400 and f"at most {MAX_LIST_VALUES} values" in str(response.json()["extra"])


def test_a_choice_that_saved_segments_compare_with_cannot_be_removed(client_for, country):
    publisher = client_for(Role.PUBLISHER)
    client_for(Role.EDITOR).post(BASE, {"name": "Germany", "rules": GERMANS}, format="json")
    url = f"/api/v1/publishing/subscriber-fields/{country.pk}/"
    refused = publisher.patch(url, {"choices": ["FR"]}, format="json")
    assert refused.status_code == 409
    assert "Germany" in refused.json()["extra"]["fields"]["choices"][0]
    country.refresh_from_db()
    assert country.choices == ["DE", "FR"]
    # Adding one, or removing one nobody compares with, is fine.
    assert publisher.patch(url, {"choices": ["DE", "FR", "AT"]}, format="json").status_code == 200
    assert publisher.patch(url, {"choices": ["DE", "AT"]}, format="json").status_code == 200
    assert publisher.delete(url).status_code == 409  # the segment still compares the field
