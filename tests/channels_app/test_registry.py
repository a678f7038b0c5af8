"""The registry is the one home of a channel kind: every registered adapter declares what the
rest of Bulletin asks, and everything else follows it. These tests loop over the registry, so a
kind added later is held to them without a line changing here."""

from __future__ import annotations

import json

import pytest
from django.template.loader import get_template

from channels_app.adapters import ADAPTERS, digest_kinds, kind_choices, personal_kind_choices, personal_kinds
from channels_app.adapters.base import Audience
from channels_app.adapters.fields import ConfigField
from channels_app.models import Channel, TestRecipient
from core.roles import Role
from subscribers.models import Subscriber, Subscription

pytestmark = pytest.mark.django_db
KINDS = list(ADAPTERS)
URL = "/api/v1/publishing/channels"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_declares_what_the_rest_of_bulletin_asks(kind):
    adapter = ADAPTERS[kind]
    assert adapter.kind == kind and adapter.label and adapter.description
    assert adapter.audiences and set(adapter.audiences) <= set(Audience.values)
    assert all(isinstance(field, ConfigField) for field in adapter.config_fields.values())
    assert not adapter.broadcast_field or adapter.broadcast_field in adapter.config_fields
    assert adapter.preview in ("email", "slack", "discord", "json")
    assert adapter.limits.per_second > 0 and (adapter.limits.per_target_per_second or 1) > 0
    if Audience.SUBSCRIBERS in adapter.audiences:
        assert adapter.personal_label and adapter.address_label
        assert Subscriber._meta.get_field(adapter.subscriber_field), "personal messages need an address column"
    else:
        assert not adapter.subscriber_field and not adapter.carries_digests


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_its_message_template(kind):
    adapter = ADAPTERS[kind]
    names = ["publication.html", "publication.txt"] if adapter.renders_email else ["publication.json"]
    for name in names:
        assert get_template(f"channels/{kind}/{name}")


def test_the_choices_of_models_and_forms_come_from_the_registry():
    assert [value for value, _ in Channel._meta.get_field("kind").choices] == KINDS
    personal = [value for value, _ in personal_kind_choices()]
    assert personal == personal_kinds() == [k for k in KINDS if ADAPTERS[k].subscriber_field]
    assert [v for v, _ in Subscription._meta.get_field("channel_kind").choices] == personal
    assert [v for v, _ in TestRecipient._meta.get_field("kind").choices] == personal
    assert set(digest_kinds()) <= set(personal) and dict(kind_choices())["email"] == "Email"


@pytest.mark.parametrize("kind", KINDS)
def test_each_kinds_demo_channels_satisfy_its_own_declaration(kind, settings):
    adapter = ADAPTERS[kind]
    for demo in adapter.demo_channels(sink_url=f"{settings.SITE_URL}/dev/sinks/{kind}/"):
        assert demo.audience in adapter.audiences
        adapter.validate(demo.config, demo.credentials, audience=demo.audience, strict=True)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_setting_is_a_field_error_for_every_kind(client_for, kind):
    adapter = ADAPTERS[kind]
    payload = {"name": "x", "kind": kind, "config": {"carrier_pigeon": "yes"}, "credentials": {}}
    response = client_for(Role.ADMIN).post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    fields = response.json()["extra"]["fields"]
    assert "carrier_pigeon" in fields and adapter.label in fields["carrier_pigeon"][0]
    assert not Channel.objects.exists()


def test_a_secret_sent_as_config_is_refused_not_stored_in_the_clear(client_for):
    payload = {"name": "x", "kind": "slack", "audience": "broadcast", "config": {"channel": "C1", "token": "xoxb-1"}}
    response = client_for(Role.ADMIN).post(URL, payload, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["token"] == ["belongs in credentials, not config"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_kinds_sink_answers_like_its_provider(client, kind, settings, tmp_path):
    settings.DEV_SINKS_ENABLED = True
    settings.VAR_DIR = tmp_path
    response = client.post(f"/dev/sinks/{kind}/", data=json.dumps({"channel": "C1"}), content_type="application/json")
    answer = ADAPTERS[kind].sink_answer(b'{"channel": "C1"}')
    assert response.status_code == answer.status
    assert client.post("/dev/sinks/carrier-pigeon/").status_code == 404
