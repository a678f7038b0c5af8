"""Admin: the segment editor (live count and sample through its preview endpoint), custom fields,
and what the publication pages show of segments and merge fields."""

from __future__ import annotations

import json

import pytest

from core.roles import Role
from publishing.models import Publication
from subscribers.models import Segment, SubscriberField
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

RULES = {"type": "attribute", "key": "country", "op": "eq", "value": "DE"}


@pytest.fixture
def country(db):
    return SubscriberField.objects.create(key="country", label="Country", type="text")


@pytest.fixture
def logged_in(client, make_user):
    def _login(role: Role):
        client.force_login(make_user(role, is_staff=True))
        return client

    return _login


def test_the_segment_editor_page_loads_its_script_and_lists_the_fields(logged_in, country):
    page = logged_in(Role.EDITOR).get("/admin/subscribers/segment/add/")
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        "subscribers/segment_editor.js" in html
        and "country (text)" in html
        and "/admin/subscribers/segment/preview/" in html
    )
    assert "cdn" not in html.lower()


def test_the_editor_preview_counts_and_samples_the_unsaved_tree(logged_in, country):
    SubscriberFactory(email="de@example.com", attributes={"country": "DE"})
    SubscriberFactory(attributes={"country": "FR"})
    client = logged_in(Role.EDITOR)
    data = client.post("/admin/subscribers/segment/preview/", {"rules": json.dumps(RULES)}).json()
    assert data["count"] == 1 and data["results"][0]["email"] == "de@example.com"
    bad = client.post(
        "/admin/subscribers/segment/preview/", {"rules": json.dumps({"type": "and", "rules": [{"type": "?"}]})}
    )
    assert bad.status_code == 400 and "rules[0]" in bad.json()["extra"]["fields"]
    assert client.post("/admin/subscribers/segment/preview/", {"rules": "{nope"}).status_code == 400
    assert client.get("/admin/subscribers/segment/preview/").status_code == 405


def test_saving_a_segment_in_admin_goes_through_the_service_and_shows_node_errors(logged_in, country):
    client = logged_in(Role.EDITOR)
    bad = {"type": "or", "rules": [RULES, {"type": "attribute", "key": "nope", "op": "eq", "value": 1}]}
    response = client.post(
        "/admin/subscribers/segment/add/", {"name": "Bad", "description": "", "rules": json.dumps(bad)}
    )
    assert response.status_code == 200 and "rules[1]: Unknown custom field" in response.content.decode()
    response = client.post(
        "/admin/subscribers/segment/add/", {"name": "DE", "description": "", "rules": json.dumps(RULES)}
    )
    assert response.status_code == 302
    segment = Segment.objects.get()
    assert segment.rules == RULES and segment.created_by is not None


def test_viewers_cannot_add_segments_in_admin(logged_in):
    viewer = logged_in(Role.VIEWER)
    assert viewer.get("/admin/subscribers/segment/add/").status_code == 403
    # Nor try unsaved trees: the same role as the API's segments/preview.
    assert viewer.post("/admin/subscribers/segment/preview/", {"rules": json.dumps(RULES)}).status_code == 403


def test_custom_fields_are_defined_in_admin_by_publishers(logged_in):
    client = logged_in(Role.PUBLISHER)
    response = client.post(
        "/admin/subscribers/subscriberfield/add/",
        {"key": "age", "label": "Age", "type": "number", "choices": "[]", "default": "null", "help_text": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert SubscriberField.objects.get().type == "number"


def test_the_publish_page_shows_the_segment_and_missing_merge_fields(logged_in, topic, country):
    from tests.factories import ChannelFactory

    ChannelFactory(kind="email", is_default=True)  # who it reaches by email: the warning counts them
    segment = Segment.objects.create(name="Germany", rules=RULES)
    publication = PublicationFactory(body="Hi {{ subscriber.attributes.company }}", topics=[topic], segment=segment)
    for i, attributes in enumerate([{"country": "DE", "company": "Acme"}, {"country": "DE"}, {"country": "FR"}]):
        SubscriptionFactory(subscriber=SubscriberFactory(email=f"r{i}@example.com", attributes=attributes), topic=topic)
    html = logged_in(Role.PUBLISHER).get(f"/admin/publishing/publication/{publication.pk}/publish/").content.decode()
    assert "Germany" in html
    assert "subscriber.attributes.company is missing for 1 of 2 recipients" in html


def test_the_compose_preview_renders_as_a_chosen_subscriber(logged_in, topic):
    ada = SubscriberFactory(name="Ada Lovelace", attributes={"company": "Engines"})
    publication = PublicationFactory(
        body="Hi {{ subscriber.first_name }} of {{ subscriber.attributes.company }}",
        topics=[topic],
        state=Publication.State.DRAFT,
    )
    data = (
        logged_in(Role.EDITOR)
        .post("/admin/publishing/publication/preview/", {"object_id": publication.pk, "preview_subscriber": ada.pk})
        .json()
    )
    assert "Hi Ada of Engines" in data["email"]["html"]


HOSTILE_JSON = {
    "a NUL escape": '{"type": "attribute", "key": "country", "op": "eq", "value": "D\\u0000E"}',
    "NaN": '{"type": "field", "field": "engagement_score", "op": "eq", "value": NaN}',
    "1e400 (infinity)": '{"type": "field", "field": "engagement_score", "op": "eq", "value": 1e400}',
    "100,000 nested arrays": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("raw", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
def test_the_editor_refuses_hostile_json_with_a_400_and_a_form_error_never_a_500(logged_in, country, raw):
    client = logged_in(Role.EDITOR)
    preview = client.post("/admin/subscribers/segment/preview/", {"rules": raw})
    assert preview.status_code == 400 and preview.json()["message"]
    saved = client.post("/admin/subscribers/segment/add/", {"name": "Hostile", "description": "", "rules": raw})
    assert saved.status_code == 200 and "errorlist" in saved.content.decode()
    assert not Segment.objects.exists()


def test_every_admin_json_field_parses_within_the_api_bounds(logged_in):
    """Not only the segment editor: a model JSONField on any admin form (here a custom field's
    choices) refuses what jsonb cannot store, as a form error."""
    client = logged_in(Role.PUBLISHER)
    form = {"key": "plan", "label": "Plan", "type": "choice", "default": "", "help_text": ""}
    response = client.post("/admin/subscribers/subscriberfield/add/", {**form, "choices": '["pro", "fr\\u0000ee"]'})
    assert response.status_code == 200 and "NUL characters" in response.content.decode()
    assert not SubscriberField.objects.exists()
    deep = client.post("/admin/subscribers/subscriberfield/add/", {**form, "choices": "[" * 5000 + "]" * 5000})
    assert deep.status_code == 200 and "levels deep" in deep.content.decode()
    ok = client.post("/admin/subscribers/subscriberfield/add/", {**form, "choices": '["pro", "free"]'})
    assert ok.status_code == 302 and SubscriberField.objects.get().choices == ["pro", "free"]


def test_deleting_custom_fields_in_bulk_goes_through_the_service(logged_in, country):
    Segment.objects.create(name="Germany", rules=RULES)
    spare = SubscriberField.objects.create(key="spare", label="Spare", type="text")
    client = logged_in(Role.PUBLISHER)
    response = client.post(
        "/admin/subscribers/subscriberfield/",
        {"action": "delete_selected", "_selected_action": [country.pk, spare.pk], "post": "yes"},
        follow=True,
    )
    assert "Not done: Segments use this field: Germany" in response.content.decode()
    assert SubscriberField.objects.count() == 2
