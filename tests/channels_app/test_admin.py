import pytest
from django.test import Client

from channels_app.adapters import ADAPTERS
from channels_app.models import Channel, Delivery, Send, TestRecipient
from channels_app.services import testsend
from channels_app.services.channels import channel_circuit_reset, channel_enable
from channels_app.services.sends import deliveries_requeue, send_cancel, send_pause
from core.exceptions import ApplicationError
from core.roles import Role
from tests.factories import ChannelFactory, DeliveryFactory, SendFactory

pytestmark = pytest.mark.django_db


def _outbox_to(settings, address):
    return [p for p in settings.BULLETIN_OUTBOX_DIR.glob("*.eml") if address.encode() in p.read_bytes()]


def test_the_send_test_button_posts_through_the_real_adapter_and_reports(
    admin_client, admin_user, outbox_channel, settings
):
    admin_user.email = "ops@example.com"
    admin_user.save()
    page = admin_client.get(f"/admin/channels_app/channel/{outbox_channel.pk}/change/").content.decode()
    assert 'formaction="/admin/channels_app/channel/' in page and 'formmethod="post"' in page
    response = admin_client.post(f"/admin/channels_app/channel/{outbox_channel.pk}/test/", follow=True)
    assert f"Test sent to ops@example.com through {outbox_channel.name}" in response.content.decode()
    [sent] = _outbox_to(settings, "ops@example.com")
    assert b"Subject: [TEST] Bulletin test message" in sent.read_bytes()


def test_the_send_test_button_shows_the_providers_error(admin_client, admin_user):
    channel = ChannelFactory(config={"esp": "smtp", "host": "127.0.0.1", "port": 9, "from_email": "a@example.com"})
    response = admin_client.post(f"/admin/channels_app/channel/{channel.pk}/test/", follow=True)
    assert f"{channel.name} refused the test" in response.content.decode()


def test_a_get_of_the_send_test_url_sends_nothing(admin_client, admin_user, outbox_channel, settings):
    """A cross-site link or an <img> pointing at it must not send real messages."""
    response = admin_client.get(f"/admin/channels_app/channel/{outbox_channel.pk}/test/")
    assert response.status_code == 405
    assert _outbox_to(settings, admin_user.email) == []


def test_the_send_test_post_needs_the_csrf_token(admin_user, outbox_channel, settings):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)
    assert browser.post(f"/admin/channels_app/channel/{outbox_channel.pk}/test/").status_code == 403
    assert _outbox_to(settings, admin_user.email) == []


def test_a_viewer_pressing_send_test_is_refused_by_the_service(client, make_user, outbox_channel, settings):
    viewer = make_user(Role.VIEWER, email="viewer@example.com")
    client.force_login(viewer)
    response = client.post(f"/admin/channels_app/channel/{outbox_channel.pk}/test/", follow=True)
    assert "Test not sent: Sending a test needs the editor role." in response.content.decode()
    assert _outbox_to(settings, "viewer@example.com") == []


def test_a_test_to_an_outside_address_is_refused_and_the_allow_list_admits_it(
    admin_client, admin_user, outbox_channel, settings
):
    url = f"/admin/channels_app/channel/{outbox_channel.pk}/test/"
    response = admin_client.post(url, {"test_recipients": "qa@example.org"}, follow=True)
    assert "Not allowed: qa@example.org" in response.content.decode()
    assert _outbox_to(settings, "qa@example.org") == []
    added = admin_client.post(
        "/admin/channels_app/testrecipient/add/", {"kind": "email", "address": " QA@Example.org ", "note": "QA inbox"}
    )
    assert added.status_code == 302
    assert TestRecipient.objects.get().address == "qa@example.org"
    admin_client.post(url, {"test_recipients": "qa@example.org"})
    assert len(_outbox_to(settings, "qa@example.org")) == 1


def test_only_admins_manage_the_test_recipient_allow_list(client, make_user):
    client.force_login(make_user(Role.PUBLISHER))
    response = client.post("/admin/channels_app/testrecipient/add/", {"kind": "email", "address": "x@example.org"})
    assert response.status_code == 403 and not TestRecipient.objects.exists()
    with pytest.raises(ApplicationError) as error:
        testsend.testrecipient_add(kind="email", address="x@example.org", actor=make_user(Role.PUBLISHER))
    assert error.value.status_code == 403 and not TestRecipient.objects.exists()
    with pytest.raises(ApplicationError) as error:
        testsend.testrecipient_add(kind="slack", address="not a member", actor=make_user(Role.ADMIN))
    assert "address" in error.value.extra["fields"]


def test_credentials_are_write_only_in_admin(admin_client):
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": "xoxb-hidden-value"})
    page = admin_client.get(f"/admin/channels_app/channel/{channel.pk}/change/").content.decode()
    assert "xoxb-hidden-value" not in page
    assert "leave blank to keep what is stored" in page


def test_adding_a_channel_starts_by_choosing_one_of_the_registered_kinds(admin_client):
    page = admin_client.get("/admin/channels_app/channel/add/").content.decode()
    for kind, adapter in ADAPTERS.items():
        assert f'href="?kind={kind}"' in page and adapter.label in page


def test_the_admin_form_holds_the_kinds_declared_settings_and_audiences(admin_client):
    page = admin_client.get("/admin/channels_app/channel/add/?kind=discord").content.decode()
    assert 'name="credentials_url"' in page and 'name="config_username"' in page
    assert 'name="config_channel"' not in page, "Slack's settings are not Discord's"
    assert 'value="broadcast"' in page and 'value="subscribers"' not in page


def test_admin_creates_a_channel_through_the_service_and_shows_config_errors(admin_client):
    data = {
        "name": "Ops Slack",
        "kind": "slack",
        "audience": "broadcast",
        "config_channel": "C0OPS0001",
        "credentials_token": "not-a-token",
        "tracking_enabled": "on",
    }
    response = admin_client.post("/admin/channels_app/channel/add/", data)
    assert response.status_code == 200 and "xoxb" in response.content.decode()
    assert not Channel.objects.exists()
    data["credentials_token"] = "xoxb-good"
    response = admin_client.post("/admin/channels_app/channel/add/", data)
    assert response.status_code == 302
    channel = Channel.objects.get()
    assert (channel.config, channel.credentials) == ({"channel": "C0OPS0001"}, {"token": "xoxb-good"})


def test_editing_a_channel_in_admin_keeps_a_secret_left_blank(admin_client):
    channel = ChannelFactory(
        kind="slack", audience="broadcast", config={"channel": "C1"}, credentials={"token": "xoxb-kept"}
    )
    data = {"name": "Renamed", "audience": "broadcast", "config_channel": "C2", "credentials_token": ""}
    response = admin_client.post(
        f"/admin/channels_app/channel/{channel.pk}/change/", {**data, "tracking_enabled": "on"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel.refresh_from_db()
    assert (channel.name, channel.config, channel.credentials) == ("Renamed", {"channel": "C2"}, {"token": "xoxb-kept"})


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


def _run_action(client, changelist, action, obj):
    return client.post(changelist, {"action": action, "_selected_action": [obj.pk]}, follow=True)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR], ids=["viewer", "editor"])
def test_roles_below_publisher_cannot_run_side_effecting_admin_actions(client, make_user, role):
    client.force_login(make_user(role))
    broken = ChannelFactory(is_active=False, disabled_reason="401", circuit_state="open")
    sending = SendFactory(status=Send.Status.SENDING)
    dead = DeliveryFactory(state=Delivery.State.DEAD)
    for changelist, action, obj in (
        ("/admin/channels_app/channel/", "enable_channels", broken),
        ("/admin/channels_app/channel/", "reset_circuits", broken),
        ("/admin/channels_app/send/", "pause", sending),
        ("/admin/channels_app/send/", "cancel", sending),
        ("/admin/channels_app/send/", "requeue_dead", dead.send),
        ("/admin/channels_app/delivery/", "requeue", dead),
        ("/admin/channels_app/deadletter/", "requeue", dead),
    ):
        _run_action(client, changelist, action, obj)
    broken.refresh_from_db()
    sending.refresh_from_db()
    dead.refresh_from_db()
    assert (broken.is_active, broken.circuit_state) == (False, "open")
    assert sending.status == Send.Status.SENDING
    assert dead.state == Delivery.State.DEAD


def test_a_publisher_requeues_from_the_dead_letter_view_and_pauses_a_send(client, make_user):
    client.force_login(make_user(Role.PUBLISHER))
    dead = DeliveryFactory(state=Delivery.State.DEAD)
    sending = SendFactory(status=Send.Status.SENDING)
    assert (
        "1 deliveries requeued"
        in _run_action(client, "/admin/channels_app/deadletter/", "requeue", dead).content.decode()
    )
    _run_action(client, "/admin/channels_app/send/", "pause", sending)
    dead.refresh_from_db()
    sending.refresh_from_db()
    assert (dead.state, sending.status) == (Delivery.State.QUEUED, Send.Status.PAUSED)


def test_the_services_behind_the_admin_actions_check_the_role_themselves(make_user):
    """A shell or any future view gets the same answer as admin and the API."""
    editor, publisher = make_user(Role.EDITOR), make_user(Role.PUBLISHER)
    channel = ChannelFactory(is_active=False, circuit_state="open")
    sending = SendFactory(status=Send.Status.SENDING)
    dead = DeliveryFactory(state=Delivery.State.DEAD)
    refused = [
        lambda: channel_enable(channel=channel, actor=publisher),
        lambda: channel_circuit_reset(channel=channel, actor=publisher),
        lambda: send_pause(send=sending, reason="x", actor=editor),
        lambda: send_cancel(send=sending, actor=editor),
        lambda: deliveries_requeue(deliveries=Delivery.objects.all(), actor=editor),
    ]
    for call in refused:
        with pytest.raises(ApplicationError) as error:
            call()
        assert error.value.status_code == 403
    channel.refresh_from_db()
    sending.refresh_from_db()
    dead.refresh_from_db()
    assert (channel.is_active, sending.status, dead.state) == (False, Send.Status.SENDING, Delivery.State.DEAD)


def _change_form_data(channel) -> dict:
    """What the channel's change form posts when nothing is edited (its inputs' current values)."""
    from channels_app.admin_forms import channel_admin_form

    form = channel_admin_form(ADAPTERS[channel.kind], change=True)(instance=channel)
    data = {}
    for name in form.fields:
        value = form[name].value()
        if value in (None, False, ""):
            continue
        data[name] = "on" if value is True else [str(v) for v in value] if isinstance(value, list) else value
    return data


def test_setting_a_channels_fallback_to_itself_is_an_exact_form_error(admin_client, outbox_channel):
    data = {**_change_form_data(outbox_channel), "fallbacks": outbox_channel.name}
    response = admin_client.post(f"/admin/channels_app/channel/{outbox_channel.pk}/change/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"fallbacks": ["a channel cannot be its own fallback"]}
    html = response.content.decode()
    assert "a channel cannot be its own fallback" in html and "Validation error" not in html
    outbox_channel.refresh_from_db()
    assert outbox_channel.fallbacks == []


def test_a_fallback_of_the_same_kind_is_saved_from_the_form(admin_client, outbox_channel):
    other = ChannelFactory(name="Backup", kind="email", config={"esp": "outbox", "from_email": "b@example.com"})
    data = {**_change_form_data(outbox_channel), "fallbacks": "Backup"}
    response = admin_client.post(f"/admin/channels_app/channel/{outbox_channel.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    outbox_channel.refresh_from_db()
    assert outbox_channel.fallbacks == [other.pk]


def test_no_one_deletes_a_send_from_the_admin_not_even_a_superuser(admin_client):
    """Sends are history (cancel stops one); a delete page would cascade millions of deliveries."""
    send = SendFactory()
    DeliveryFactory(send=send)
    assert admin_client.get(f"/admin/channels_app/send/{send.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/channels_app/send/{send.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = admin_client.get("/admin/channels_app/send/").content.decode()
    assert 'value="delete_selected"' not in changelist
    assert Send.objects.filter(pk=send.pk).exists() and Delivery.objects.filter(send=send).exists()
