"""Custom fields marked subscriber-editable on the preference centre: shown, typed, validated;
the others neither shown nor writable through it."""

from __future__ import annotations

import pytest

from core.exceptions import ApplicationError
from subscribers.models import ConsentRecord, SubscriberField
from subscribers.services import ConsentContext, subscriber_preferences_update
from tests.factories import SubscriberFactory, TopicFactory
from tests.subscribers.test_preferences import _form, _url

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber():
    return SubscriberFactory(email="ada@example.com", name="Ada", attributes={"age": 30, "score": 9})


@pytest.fixture
def fields(db):
    SubscriberField.objects.create(key="age", label="Your age", type="number", subscriber_editable=True)
    SubscriberField.objects.create(
        key="newsletter_format", label="Format", type="choice", choices=["html", "text"], subscriber_editable=True
    )
    SubscriberField.objects.create(key="score", label="Internal score", type="number")


def test_editable_fields_are_shown_and_saved_typed(client, token_for, subscriber, fields):
    news = TopicFactory(slug="news")
    url = _url(token_for, subscriber)
    html = client.get(url).content.decode()
    assert "Your age" in html and "Format" in html and "Internal score" not in html
    response = client.post(url, _form(subscriber, [news], attr_age="31", attr_newsletter_format="text"))
    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.attributes == {"age": 31, "newsletter_format": "text", "score": 9}
    assert subscriber.consent_records.filter(action=ConsentRecord.Action.PREFERENCES_CHANGED).exists()


def test_a_wrong_value_is_shown_next_to_its_field_and_nothing_is_saved(client, token_for, subscriber, fields):
    news = TopicFactory(slug="news")
    response = client.post(_url(token_for, subscriber), _form(subscriber, [news], attr_age="old", name="Changed"))
    assert response.status_code == 400
    assert "Expected a number" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.name == "Ada" and subscriber.attributes["age"] == 30


def test_the_preference_centre_cannot_write_a_field_subscribers_may_not_edit(subscriber, fields):
    context = ConsentContext(method=ConsentRecord.Method.LINK, source="preference centre")
    with pytest.raises(ApplicationError) as refused:
        subscriber_preferences_update(subscriber=subscriber, context=context, changes={"attributes": {"score": 100}})
    assert "attributes.score" in refused.value.extra["fields"]
    subscriber.refresh_from_db()
    assert subscriber.attributes["score"] == 9
