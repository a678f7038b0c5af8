"""Hostile input anywhere in the API is a 4xx in the JSON error format and stores nothing.

Each case was a 500 before the parser, the query-parameter guard, the cursor paginator and the
datetime filters refused it at the root (issue 11, item 9).
"""

from __future__ import annotations

import base64
import json

import pytest

from channels_app.models import Channel
from core.roles import Role
from publishing.models import Publication
from subscribers.models import Subscriber, Topic
from tests.factories import ChannelFactory, SubscriberFactory, TopicFactory

pytestmark = pytest.mark.django_db

API = "/api/v1/publishing"


def _assert_json_error(response, status: int | None = None) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if status is not None:
        assert response.status_code == status, response.content[:300]
    body = response.json()
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["extra"], dict)
    return body


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("topics", {"slug": "a\u0000b", "name": "Nul"}),
        ("topics", {"slug": "ok", "name": "Nul \u0000 name"}),
        ("subscribers", {"email": "nul@example.com", "attributes": {"plan": "a\u0000b"}}),
        ("subscribers", {"email": "nul@example.com", "attributes": {"a\u0000b": "pro"}}),
        ("subscribers", {"email": "nul@example.com", "topics": ["news\u0000"]}),
        ("subscribers", {"email": "nul\u0000@example.com"}),
        ("publications", {"title": "Nul", "topics": ["\u0000"]}),
        ("publications", {"title": "Nul \u0000 title", "body": "text"}),
    ],
)
def test_a_nul_byte_in_any_json_string_is_a_field_error_and_stores_nothing(client_for, path, payload):
    TopicFactory(slug="news")
    before = (Topic.objects.count(), Subscriber.objects.count(), Publication.objects.count())
    response = client_for(Role.PUBLISHER).post(f"{API}/{path}", payload, format="json")
    body = _assert_json_error(response, 400)
    assert "NUL" in json.dumps(body) or "null character" in json.dumps(body).lower()
    assert (Topic.objects.count(), Subscriber.objects.count(), Publication.objects.count()) == before


@pytest.mark.parametrize(
    "query",
    [
        "subscribers?search=%00",
        "subscribers?topic=news%00",
        "subscribers?status=active%00",
        "publications?topic=%00",
        "publications?search=a%00b",
        "analytics/engagement?topics=news%00",
        "analytics/engagement?channels=%00",
        "topics/news%00",
    ],
)
def test_a_nul_byte_in_a_query_parameter_or_path_is_a_bad_request(client_for, query):
    TopicFactory(slug="news")
    response = client_for(Role.VIEWER).get(f"{API}/{query}")
    assert response.status_code in (400, 404), response.content[:300]
    _assert_json_error(response)


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01T00:00:00+25:00",
        "2026-01-01T00:00:00-24:00",
        "2026-01-01T00:00:00+99:99",
        "2026-13-45T25:61:00",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_an_out_of_range_datetime_filter_is_a_field_error(client_for, name, value):
    SubscriberFactory()
    response = client_for(Role.VIEWER).get(f"{API}/subscribers", {name: value})
    body = _assert_json_error(response, 400)
    assert name in body["extra"]["fields"]


@pytest.mark.parametrize("offset", ["+23:59", "-20:00", "+16:00", "+05:30", "Z"])
def test_any_offset_python_accepts_filters_in_utc_although_postgresql_stops_at_15_59(client_for, offset):
    subscriber = SubscriberFactory()
    client = client_for(Role.VIEWER)
    response = client.get(f"{API}/subscribers", {"created_after": f"2000-01-01T00:00:00{offset}"})
    assert response.status_code == 200, response.content[:300]
    assert [row["id"] for row in response.json()["results"]] == [subscriber.pk]
    response = client.get(f"{API}/subscribers", {"created_before": f"2000-01-01T00:00:00{offset}"})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("position", ["p=x", "p=", "p=1.5", "p=99999999999999999999999", "o=-1&p=3", "p=-5", "r=x"])
def test_a_malformed_cursor_is_a_bad_request(client_for, position):
    SubscriberFactory.create_batch(2)
    cursor = base64.b64encode(position.encode()).decode()
    response = client_for(Role.VIEWER).get(f"{API}/subscribers", {"cursor": cursor, "page_size": 1})
    body = _assert_json_error(response, 400)
    assert "Invalid cursor" in body["extra"]["fields"]["cursor"][0]


def test_a_good_cursor_still_pages_through_every_subscriber(client_for):
    SubscriberFactory.create_batch(3)
    client = client_for(Role.VIEWER)
    seen, url = [], f"{API}/subscribers?page_size=2"
    while url:
        body = client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen, reverse=True) == seen and len(seen) == 3


@pytest.mark.parametrize("recipient", ["\\¾", "\u0000", "a@b@c", "\\\u00be@example.com", "<>@[300.1.1.1]"])
def test_an_invalid_test_recipient_is_a_field_error(client_for, recipient):
    channel = ChannelFactory(kind="email", config={"esp": "outbox", "from_email": "News <news@example.com>"})
    client = client_for(Role.EDITOR)
    for body in ({"recipient": recipient}, {"recipients": [recipient]}):
        response = client.post(f"{API}/channels/{channel.pk}/test", body, format="json")
        fields = _assert_json_error(response, 400)["extra"]["fields"]
        assert any(name.startswith("recipient") for name in fields), fields


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "topics"),
        ("post", "subscribers"),
        ("post", "publications"),
        ("post", "channels"),
        ("patch", "topics/news"),
    ],
)
def test_json_nested_three_thousand_deep_is_a_bad_request(client_for, method, path):
    TopicFactory(slug="news")
    client = client_for(Role.ADMIN)
    response = getattr(client, method)(f"{API}/{path}", data=_deep(3000), content_type="application/json")
    body = _assert_json_error(response, 400)
    assert "deep" in body["message"].lower()
    assert Topic.objects.count() == 1 and not Channel.objects.exists()


def test_json_nested_inside_an_object_field_is_refused_too(client_for):
    payload = '{"email": "deep@example.com", "attributes": {"a": ' + _deep(3000) + "}}"
    response = client_for(Role.EDITOR).post(f"{API}/subscribers", data=payload, content_type="application/json")
    _assert_json_error(response, 400)
    assert not Subscriber.objects.exists()


def test_json_of_a_sensible_depth_is_accepted(client_for):
    nested: dict = {"leaf": "ok"}
    for _ in range(20):
        nested = {"n": nested}
    response = client_for(Role.EDITOR).post(
        f"{API}/subscribers", {"email": "fine@example.com", "attributes": nested}, format="json"
    )
    # Parsed, then judged by the field's own rule (custom attributes hold text, numbers or booleans).
    body = _assert_json_error(response, 400)
    assert body["extra"]["fields"] == {"attributes.n": ["Attribute values are text, numbers or booleans."]}


def test_a_body_over_the_size_cap_is_refused_before_it_is_parsed(client_for, settings):
    settings.API_MAX_BODY_BYTES = 1000
    payload = {"email": "big@example.com", "attributes": {"blob": "x" * 2000}}
    response = client_for(Role.EDITOR).post(f"{API}/subscribers", payload, format="json")
    body = _assert_json_error(response, 413)
    assert "large" in body["message"].lower()
    assert not Subscriber.objects.exists()


def test_json_that_is_not_json_is_a_parse_error_in_our_format(client_for):
    response = client_for(Role.EDITOR).post(f"{API}/topics", data="{nope", content_type="application/json")
    _assert_json_error(response, 400)


def test_nul_in_an_admin_search_path_or_form_is_a_bad_request(admin_client):
    assert admin_client.get("/admin/subscribers/subscriber/", {"q": "a\u0000"}).status_code == 400
    assert admin_client.get("/admin/outbox/x\u0000.eml").status_code == 400
    response = admin_client.post("/admin/subscribers/topic/add/", {"slug": "nul", "name": "a\u0000"})
    assert response.status_code == 400
    assert not Topic.objects.filter(slug="nul").exists()


def test_a_damaged_public_link_with_a_nul_still_gets_its_friendly_page(client):
    response = client.get("/confirm/abc%00def")
    assert response.status_code == 400 and "incomplete or damaged" in response.content.decode()


@pytest.mark.parametrize("number", ["1e400", "-1e400", "1" + "0" * 400 + ".0"])
def test_a_number_too_big_for_a_float_is_a_bad_request_not_infinity_in_jsonb(client_for, number):
    """json.loads reads 1e400 as infinity, which jsonb refuses on save: a 500 after the work."""
    payload = '{"email": "big@example.com", "attributes": {"score": ' + number + "}}"
    response = client_for(Role.EDITOR).post(f"{API}/subscribers", data=payload, content_type="application/json")
    body = _assert_json_error(response, 400)
    assert "too large" in body["message"]
    assert not Subscriber.objects.exists()


def test_a_multipart_body_without_a_boundary_is_a_bad_request_in_our_error_format(client_for):
    """Django answers it with an HTML 400 of its own; the API answers in JSON like every refusal."""
    response = client_for(Role.EDITOR).generic(
        "POST", f"{API}/subscribers", b"--x\r\n", content_type="multipart/form-data"
    )
    body = _assert_json_error(response, 400)
    assert "could not be read" in body["message"]
    assert not Subscriber.objects.exists()
