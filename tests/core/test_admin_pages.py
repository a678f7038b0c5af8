"""Every model registered in admin has working changelist, search, filter and add pages."""

import pytest
from django.contrib import admin
from django.core.mail import send_mail
from django.core.management import call_command

from core.roles import Role

pytestmark = pytest.mark.django_db

OUR_APPS = {"subscribers", "channels_app", "publishing", "analytics"}


@pytest.fixture
def admin_client_with_data(admin_client):
    call_command("load_demo_data")
    return admin_client


def _our_model_admins():
    return [(m, a) for m, a in admin.site._registry.items() if m._meta.app_label in OUR_APPS]


def test_every_model_of_ours_is_registered():
    registered = {m._meta.model_name for m, _ in _our_model_admins()}
    assert {
        "subscriber",
        "topic",
        "subscription",
        "consentrecord",
        "suppression",
        "publication",
        "channel",
        "send",
        "delivery",
        "engagementevent",
    } <= registered


@pytest.mark.parametrize("model,model_admin", _our_model_admins(), ids=lambda v: getattr(v, "__name__", ""))
def test_changelist_renders_with_search_and_filters(admin_client_with_data, model, model_admin):
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    assert admin_client_with_data.get(url).status_code == 200
    if model_admin.search_fields:
        assert admin_client_with_data.get(url, {"q": "demo"}).status_code == 200
    assert admin_client_with_data.get(f"{url}add/").status_code in (200, 403)


def test_change_page_of_a_demo_subscriber_renders(admin_client_with_data):
    from subscribers.models import Subscriber

    subscriber = Subscriber.objects.first()
    response = admin_client_with_data.get(f"/admin/subscribers/subscriber/{subscriber.pk}/change/")
    assert response.status_code == 200
    assert subscriber.email in response.content.decode()


def test_outbox_keeps_sent_mail_and_admin_shows_it(admin_client, settings):
    settings.EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
    send_mail("Hello outbox", "Plain body", "news@example.com", ["reader@example.com"])
    files = list(settings.BULLETIN_OUTBOX_DIR.glob("*.eml"))
    assert any(b"Hello outbox" in f.read_bytes() for f in files)
    listing = admin_client.get("/admin/outbox/").content.decode()
    assert "Hello outbox" in listing
    newest = sorted(files)[-1].name
    assert "Plain body" in admin_client.get(f"/admin/outbox/{newest}").content.decode()


def test_outbox_message_view_refuses_paths_outside_the_outbox(admin_client):
    assert admin_client.get("/admin/outbox/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert admin_client.get("/admin/outbox/nope.eml").status_code == 404


def test_outbox_requires_staff(client):
    assert client.get("/admin/outbox/").status_code == 302


@pytest.mark.parametrize(
    "role", [None, Role.VIEWER, Role.EDITOR, Role.PUBLISHER], ids=["no-role", "viewer", "editor", "publisher"]
)
def test_the_outbox_is_refused_to_every_staff_role_below_admin(client, make_user, settings, tmp_path, role):
    """It holds confirmation and preference links: reading it is taking over any subscriber."""
    settings.EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
    settings.BULLETIN_OUTBOX_DIR = tmp_path
    send_mail("Confirm", "https://x/confirm/secret-token", "news@example.com", ["reader@example.com"])
    [message] = [f.name for f in settings.BULLETIN_OUTBOX_DIR.glob("*.eml")]
    client.force_login(make_user(role))
    for url in ("/admin/outbox/", f"/admin/outbox/{message}"):
        response = client.get(url)
        assert response.status_code == 403 and b"secret-token" not in response.content
    assert b"/admin/outbox/" not in client.get("/admin/").content


def test_the_outbox_is_open_to_the_admin_group_and_superusers(client, make_user, admin_client):
    client.force_login(make_user(Role.ADMIN))
    assert client.get("/admin/outbox/").status_code == 200
    assert b"/admin/outbox/" in client.get("/admin/").content
    assert admin_client.get("/admin/outbox/").status_code == 200


def test_a_viewer_is_offered_no_admin_action_that_changes_anything(make_user, rf):
    """Audit of every ModelAdmin of ours: actions are POSTs with CSRF, and a view-only role gets
    only the read-only ones (CSV export)."""
    request = rf.post("/admin/")
    request.user = make_user(Role.VIEWER)
    offered = {
        (model._meta.label, name)
        for model, model_admin in _our_model_admins()
        for name in model_admin.get_actions(request)
        if name != "export_selected_csv"
    }
    assert offered == set()
