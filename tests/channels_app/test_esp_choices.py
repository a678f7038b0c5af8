"""Only ESPs whose sending and feedback are tested are offered. The API, admin's form, the
service and a test send agree: a retired ESP is a clear field error, never a 500 or a write."""

from __future__ import annotations

import pytest
from django.db import connection

from channels_app.adapters.email import ESP_CHOICES, RETIRED_ESPS
from channels_app.models import Channel
from channels_app.services.channels import channel_validate
from core.exceptions import ApplicationError
from core.roles import Role
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/publishing/channels"
RETIRED = sorted(RETIRED_ESPS)
OFFERED = ["amazon_ses", "brevo", "mailgun", "outbox", "postmark", "sendgrid", "smtp"]


def test_the_offered_providers_are_those_with_tested_feedback():
    assert list(ESP_CHOICES) == OFFERED
    assert not set(RETIRED) & set(ESP_CHOICES)


@pytest.mark.parametrize("esp", RETIRED)
def test_the_service_refuses_a_retired_esp_naming_the_field(esp):
    with pytest.raises(ApplicationError) as caught:
        channel_validate(
            kind="email",
            audience="subscribers",
            config={"esp": esp, "from_email": "n@example.com"},
            credentials={"api_key": "k"},
        )
    [message] = caught.value.extra["fields"]["esp"]
    assert f"{esp} is no longer offered" in message and "postmark" in message


@pytest.mark.parametrize("esp", RETIRED)
def test_the_api_refuses_to_create_a_channel_on_a_retired_esp(client_for, esp):
    payload = {"name": "Mail", "kind": "email", "config": {"esp": esp, "from_email": "n@example.com"}}
    response = client_for(Role.ADMIN).post(URL, {**payload, "credentials": {"api_key": "k"}}, format="json")
    assert response.status_code == 400
    assert "no longer offered" in response.json()["extra"]["fields"]["esp"][0]
    assert not Channel.objects.exists()


def test_an_existing_channel_on_a_retired_esp_must_change_provider_to_be_saved(client_for, postmark_emulator):
    channel = ChannelFactory(name="Old", config={"esp": "sparkpost", "from_email": "n@example.com"})
    client = client_for(Role.ADMIN)
    response = client.patch(f"{URL}/{channel.pk}", {"name": "Renamed"}, format="json")
    assert response.status_code == 400
    assert "sparkpost is no longer offered" in response.json()["extra"]["fields"]["esp"][0]
    channel.refresh_from_db()
    assert channel.name == "Old", "nothing written"
    config, credentials = postmark_emulator.channel_settings()
    change = {"config": config, "credentials": {**credentials, "webhook_secret": "a:b"}}
    response = client.patch(f"{URL}/{channel.pk}", change, format="json")
    assert response.status_code == 200, response.json()
    assert "webhook_secret" not in response.content.decode() and "a:b" not in response.content.decode()
    channel.refresh_from_db()
    assert channel.credentials["webhook_secret"] == "a:b"


def test_a_test_send_on_a_retired_esp_is_a_field_error(client_for):
    channel = ChannelFactory(config={"esp": "mailjet", "from_email": "n@example.com"})
    response = client_for(Role.EDITOR).post(f"{URL}/{channel.pk}/test", {}, format="json")
    assert response.status_code == 400
    assert "mailjet is no longer offered" in response.json()["extra"]["fields"]["esp"][0]


def test_admins_form_offers_only_tested_providers(admin_client):
    page = admin_client.get("/admin/channels_app/channel/add/?kind=email").content.decode()
    for esp in OFFERED:
        assert f'value="{esp}"' in page
    for esp in RETIRED:
        assert f'value="{esp}"' not in page
    assert 'name="credentials_webhook_secret"' in page and 'type="password"' in page
    assert 'name="credentials_webhook_signing_key"' in page and 'name="config_api_url"' in page


def test_admin_shows_a_form_error_for_a_retired_esp_and_saves_nothing(admin_client):
    channel = ChannelFactory(name="Old", config={"esp": "resend", "from_email": "n@example.com"})
    page = admin_client.get(f"/admin/channels_app/channel/{channel.pk}/change/").content.decode()
    assert '<option value="resend" selected>resend (no longer offered)</option>' in page
    data = {
        "name": "Renamed",
        "audience": "subscribers",
        "config_esp": "resend",
        "config_from_email": "n@example.com",
        "tracking_enabled": "on",
    }
    response = admin_client.post(f"/admin/channels_app/channel/{channel.pk}/change/", data)
    assert response.status_code == 200
    assert "resend is no longer offered" in response.content.decode() and "errorlist" in response.content.decode()
    channel.refresh_from_db()
    assert channel.name == "Old"
    data["config_esp"] = "outbox"
    response = admin_client.post(f"/admin/channels_app/channel/{channel.pk}/change/", data)
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.config["esp"]) == ("Renamed", "outbox")


def test_the_api_and_admin_show_the_feedback_url_to_give_the_esp(client_for, admin_client, settings):
    settings.SITE_URL = "https://news.example.com"
    channel = ChannelFactory(name="PM", config={"esp": "postmark", "from_email": "n@example.com"})
    ses = ChannelFactory(name="SES", config={"esp": "amazon_ses", "from_email": "n@example.com"})
    smtp = ChannelFactory(name="SMTP", config={"esp": "smtp", "host": "mx.example.com", "from_email": "n@example.com"})
    url = f"https://news.example.com/anymail/postmark/tracking/{channel.pk}/"
    client = client_for(Role.ADMIN)
    assert client.get(f"{URL}/{channel.pk}").json()["feedback_webhook_url"] == url
    sns_url = "https://news.example.com/anymail/amazon_ses/tracking/"
    assert client.get(f"{URL}/{ses.pk}").json()["feedback_webhook_url"] == sns_url
    assert client.get(f"{URL}/{smtp.pk}").json()["feedback_webhook_url"] == ""
    assert url in admin_client.get(f"/admin/channels_app/channel/{channel.pk}/change/").content.decode()


def test_webhook_secrets_are_stored_encrypted(client_for):
    payload = {
        "name": "PM",
        "kind": "email",
        "config": {"esp": "postmark", "from_email": "n@example.com"},
        "credentials": {"server_token": "pm-token", "webhook_secret": "hook:very-secret-value"},
    }
    response = client_for(Role.ADMIN).post(URL, payload, format="json")
    assert response.status_code == 201, response.json()
    assert "very-secret-value" not in response.content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials::text FROM channels_app_channel WHERE id = %s", [response.json()["id"]])
        [stored] = cursor.fetchone()
    assert "very-secret-value" not in stored and "webhook_secret" not in stored
    assert Channel.objects.get().credentials["webhook_secret"] == "hook:very-secret-value"
