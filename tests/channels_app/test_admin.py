import pytest

from channels_app.models import Channel, Delivery
from tests.factories import ChannelFactory, DeliveryFactory

pytestmark = pytest.mark.django_db


def test_the_send_test_button_sends_through_the_real_adapter_and_reports(
    admin_client, admin_user, outbox_channel, settings
):
    admin_user.email = "ops@example.com"
    admin_user.save()
    response = admin_client.get(f"/admin/channels_app/channel/{outbox_channel.pk}/test/", follow=True)
    assert "Test sent to ops@example.com" in response.content.decode()
    assert any(b"ops@example.com" in p.read_bytes() for p in settings.BULLETIN_OUTBOX_DIR.glob("*.eml"))


def test_the_send_test_button_shows_the_providers_error(admin_client, admin_user):
    channel = ChannelFactory(config={"esp": "smtp", "host": "127.0.0.1", "port": 9, "from_email": "a@example.com"})
    response = admin_client.get(f"/admin/channels_app/channel/{channel.pk}/test/", follow=True)
    assert "The provider refused the test" in response.content.decode()


def test_credentials_are_write_only_in_admin(admin_client):
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": "xoxb-hidden-value"})
    page = admin_client.get(f"/admin/channels_app/channel/{channel.pk}/change/").content.decode()
    assert "xoxb-hidden-value" not in page
    assert "leave blank to keep them" in page


def test_admin_creates_a_channel_through_the_service_and_shows_config_errors(admin_client):
    data = {
        "name": "Ops Slack",
        "kind": "slack",
        "audience": "broadcast",
        "config": '{"channel": "C0OPS0001"}',
        "new_credentials": '{"token": "not-a-token"}',
        "tracking_enabled": "on",
    }
    response = admin_client.post("/admin/channels_app/channel/add/", data)
    assert response.status_code == 200 and "xoxb" in response.content.decode()
    assert not Channel.objects.exists()
    data["new_credentials"] = '{"token": "xoxb-good"}'
    response = admin_client.post("/admin/channels_app/channel/add/", data)
    assert response.status_code == 302
    assert Channel.objects.get().credentials == {"token": "xoxb-good"}


def test_the_dead_letter_view_lists_dead_deliveries_and_requeues_them(admin_client, outbox_channel):
    dead = DeliveryFactory(channel=outbox_channel, state=Delivery.State.DEAD, last_error="503 gave up")
    DeliveryFactory(channel=outbox_channel, state=Delivery.State.SENT)
    page = admin_client.get("/admin/channels_app/deadletter/").content.decode()
    assert "503 gave up" in page and page.count("/change/") >= 1
    response = admin_client.post(
        "/admin/channels_app/deadletter/", {"action": "requeue", "_selected_action": [dead.pk]}, follow=True
    )
    assert "1 deliveries requeued" in response.content.decode()
    dead.refresh_from_db()
    assert (dead.state, dead.attempts) == (Delivery.State.QUEUED, 0)
