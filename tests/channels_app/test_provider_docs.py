"""Every channel form says where its provider documents the settings (issue 16 item 5): the
kind's docs on "add channel", the chosen ESP's on an email channel, and the same in the API."""

import pytest

from channels_app.adapters import ADAPTERS
from channels_app.adapters.email import ANYMAIL_ESPS, ESP_DOCS, LOCAL_BACKENDS
from core.roles import Role
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/publishing/channels"


def test_every_kind_and_every_remote_provider_names_its_documentation():
    for kind, adapter in ADAPTERS.items():
        assert adapter.docs_url.startswith("https://"), kind
    for esp in ANYMAIL_ESPS | {"smtp"}:
        assert ESP_DOCS[esp].startswith("https://"), esp
    assert set(ESP_DOCS) == ANYMAIL_ESPS | set(LOCAL_BACKENDS) - {"outbox"}  # the outbox has nothing to set up


def test_the_add_channel_page_links_each_kinds_documentation(admin_client):
    page = admin_client.get("/admin/channels_app/channel/add/").content.decode()
    for adapter in ADAPTERS.values():
        assert f'href="{adapter.docs_url}"' in page, adapter.kind


@pytest.mark.parametrize("esp", ["postmark", "amazon_ses", "mailgun"])
def test_an_email_channels_form_links_its_esps_documentation(admin_client, esp):
    channel = ChannelFactory(config={"esp": esp, "from_email": "news@example.com"})
    page = admin_client.get(f"/admin/channels_app/channel/{channel.pk}/change/").content.decode()
    assert f'href="{ESP_DOCS[esp]}"' in page
    assert "Where to find these settings" in page


def test_a_new_slack_channels_form_links_slacks_documentation(admin_client):
    page = admin_client.get("/admin/channels_app/channel/add/?kind=slack").content.decode()
    assert f'href="{ADAPTERS["slack"].docs_url}"' in page


def test_the_api_gives_each_channel_its_providers_documentation(client_for):
    postmark = ChannelFactory(config={"esp": "postmark", "from_email": "news@example.com"})
    outbox = ChannelFactory()
    slack = ChannelFactory(kind="slack", audience="broadcast", config={"channel": "#news"}, credentials={"token": "x"})
    client = client_for(Role.ADMIN)
    by_id = {row["id"]: row for row in client.get(URL).json()["results"]}
    assert by_id[postmark.pk]["docs_url"] == ESP_DOCS["postmark"]
    assert by_id[outbox.pk]["docs_url"] == ""
    assert by_id[slack.pk]["docs_url"] == ADAPTERS["slack"].docs_url
