import pytest

from channels_app.models import Channel
from core.roles import Role
from tests.factories import ChannelFactory, TopicFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/publishing/channels"
SLACK = {
    "name": "Announcements",
    "kind": "slack",
    "audience": "broadcast",
    "config": {"channel": "C0123", "base_url": "https://slack.example/api/"},
    "credentials": {"token": "xoxb-secret-token"},
}


def test_an_admin_creates_a_channel_and_the_credentials_never_come_back(client_for):
    TopicFactory(slug="news")
    client = client_for(Role.ADMIN)
    response = client.post(URL, {**SLACK, "topics": ["news"]}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "credentials" not in body and body["has_credentials"] is True
    assert body["topics"] == ["news"]
    listed = client.get(URL).content.decode()
    assert "xoxb-secret-token" not in listed
    assert Channel.objects.get(pk=body["id"]).credentials == {"token": "xoxb-secret-token"}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.PUBLISHER])
def test_only_admins_write_channels(client_for, role):
    assert client_for(role).post(URL, SLACK, format="json").status_code == 403
    assert not Channel.objects.exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({**SLACK, "credentials": {"token": "not-a-bot-token"}}, "token"),
        ({**SLACK, "config": {}}, "channel"),
        ({**SLACK, "kind": "pigeon"}, "kind"),
        ({**SLACK, "kind": "email", "config": {"esp": "carrier-pigeon", "from_email": "x"}}, "esp"),
        ({**SLACK, "kind": "discord", "audience": "broadcast", "credentials": {}}, "url"),
        (
            {**SLACK, "kind": "webhook", "config": {"url": "https://h.example"}, "credentials": {"secret": "nope"}},
            "secret",
        ),
        ({**SLACK, "rate_limit_per_second": -1}, "rate_limit_per_second"),
    ],
    ids=["slack-token", "slack-channel", "kind", "esp", "discord-url", "webhook-secret", "rate"],
)
def test_a_bad_configuration_gets_field_errors_and_writes_nothing(client_for, payload, field):
    response = client_for(Role.ADMIN).post(URL, payload, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["extra"]["fields"]
    assert not Channel.objects.exists()


def test_a_second_default_of_a_kind_is_a_field_error(client_for):
    ChannelFactory(is_default=True)
    payload = {
        "name": "Second",
        "kind": "email",
        "is_default": True,
        "config": {"esp": "outbox", "from_email": "a@b.co"},
    }
    response = client_for(Role.ADMIN).post(URL, payload, format="json")
    assert response.status_code == 400
    assert "is_default" in response.json()["extra"]["fields"]


def test_updating_without_credentials_keeps_them_and_kind_cannot_change(client_for):
    channel = ChannelFactory(
        kind="slack", audience="broadcast", config={"channel": "C1"}, credentials={"token": "xoxb-1"}
    )
    response = client_for(Role.ADMIN).patch(f"{URL}/{channel.pk}", {"name": "Renamed", "kind": "email"}, format="json")
    assert response.status_code == 200, response.json()
    channel.refresh_from_db()
    assert (channel.name, channel.kind, channel.credentials) == ("Renamed", "slack", {"token": "xoxb-1"})


def test_the_test_action_sends_through_the_real_adapter(client_for, outbox_channel, settings):
    client = client_for(Role.EDITOR)
    response = client.post(f"{URL}/{outbox_channel.pk}/test", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["ok"] is True
    assert response.json()["recipient"] == client.user.email
    assert [r["recipient"] for r in response.json()["results"]] == [client.user.email]
    assert any(b"[TEST] Bulletin test message" in p.read_bytes() for p in settings.BULLETIN_OUTBOX_DIR.glob("*.eml"))


def test_the_test_action_reports_the_providers_exact_error(client_for):
    channel = ChannelFactory(config={"esp": "smtp", "host": "127.0.0.1", "port": 9, "from_email": "a@example.com"})
    response = client_for(Role.EDITOR).post(f"{URL}/{channel.pk}/test", {}, format="json")
    assert response.status_code == 502
    assert "refused" in response.json()["message"].lower()
    channel.refresh_from_db()
    assert channel.is_active, "a test changes nothing"


def test_the_test_action_needs_a_recipient_for_personal_chat_channels(client_for):
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": "xoxb-1"})
    response = client_for(Role.EDITOR).post(f"{URL}/{channel.pk}/test", {}, format="json")
    assert response.status_code == 400
    assert "recipients" in response.json()["extra"]["fields"]


def test_the_test_action_refuses_addresses_off_the_allow_list_and_too_many(client_for, outbox_channel, settings):
    client = client_for(Role.EDITOR)
    outside = client.post(f"{URL}/{outbox_channel.pk}/test", {"recipients": ["ceo@rival.example"]}, format="json")
    assert outside.status_code == 400
    assert "Not allowed: ceo@rival.example" in outside.json()["extra"]["fields"]["recipients"][0]
    legacy = client.post(f"{URL}/{outbox_channel.pk}/test", {"recipient": "ceo@rival.example"}, format="json")
    assert legacy.status_code == 400
    many = [f"r{i}@example.com" for i in range(settings.TEST_SEND_MAX_RECIPIENTS + 1)]
    too_many = client.post(f"{URL}/{outbox_channel.pk}/test", {"recipients": many}, format="json")
    assert too_many.status_code == 400 and "At most" in too_many.json()["extra"]["fields"]["recipients"][0]
    assert not any(b"rival.example" in p.read_bytes() for p in settings.BULLETIN_OUTBOX_DIR.glob("*.eml"))


def test_the_test_action_is_not_for_viewers_and_404s_cleanly(client_for, outbox_channel):
    assert client_for(Role.VIEWER).post(f"{URL}/{outbox_channel.pk}/test", {}).status_code == 403
    assert client_for(Role.EDITOR).post(f"{URL}/999999/test", {}).status_code == 404


def test_a_channel_cannot_be_its_own_fallback_and_the_answer_says_so(client_for):
    channel = ChannelFactory(name="Mail", kind="email", config={"esp": "outbox", "from_email": "a@example.com"})
    response = client_for(Role.ADMIN).patch(f"{URL}/{channel.pk}", {"fallbacks": [channel.pk]}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["extra"]["fields"] == {"fallbacks": ["a channel cannot be its own fallback"]}
    assert body["message"] == "Invalid channel configuration: fallbacks: a channel cannot be its own fallback"
    channel.refresh_from_db()
    assert channel.fallbacks == []
