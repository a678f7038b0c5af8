"""Message layouts and branding edited in admin: validated in a sandbox (syntax errors and
forbidden tags are form errors), live preview, versioned with one-click revert, recorded on the
send that used them; the template files stay the defaults."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.utils import parseaddr

import pytest
from django.test import Client

from channels_app.models import Send
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.layout_models import Branding, ChannelLayout
from publishing.services.branding import branding_update
from publishing.services.layouts import layout_default_source, layout_revert, layout_save
from publishing.services.publish import publication_publish
from publishing.services.rendering import publication_content
from subscribers.models import Topic
from tests.publishing.test_images import image_file

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/channellayout"
EMAIL_HTML = layout_default_source(kind="email", name="publication.html")


def edited(marker: str) -> str:
    return EMAIL_HTML.replace("{{ body_html }}", f"<p>{marker}</p>{{{{ body_html }}}}")


@pytest.fixture
def admin_client(publisher):
    client = Client()
    client.force_login(publisher)
    return client


def add_layout(client, **data):
    return client.post(f"{ADMIN}/add/", {"kind": "email", "name": "publication.html", "topic": "", "note": "", **data})


def test_without_layouts_the_template_files_are_used_and_nothing_is_recorded(draft):
    content = publication_content(publication=draft)
    assert "Read online" in content["email"]["html"] and "layouts" not in content


def test_a_layout_saved_in_admin_is_used_and_the_send_records_its_version(
    admin_client, draft, publisher, email_channel, make_readers, django_capture_on_commit_callbacks
):
    response = add_layout(admin_client, source=edited("EDITED LAYOUT"), note="first try")
    assert response.status_code == 302, response.content.decode()[:2000]
    layout = ChannelLayout.objects.get()
    assert (layout.current_version, layout.versions.get().note) == (1, "first try")
    make_readers(1)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=draft, actor=publisher)
    send = Send.objects.get(publication=draft)
    assert "EDITED LAYOUT" in send.content["email"]["html"]
    assert send.content["layouts"]["email/publication.html"]["version"] == 1


def test_a_blank_new_layout_starts_from_the_file_it_replaces(admin_client):
    assert add_layout(admin_client, source="").status_code == 302
    assert ChannelLayout.objects.get().versions.get().source == EMAIL_HTML


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{% if title %}unclosed", "Template syntax error"),
        ('{% include "channels/email/layout.html" %}', "{% include %} is not allowed"),
        ("{% debug %}{{ ph.unsubscribe_url }}", "{% debug %} is not allowed"),
        ("{% load static %}{{ ph.unsubscribe_url }}", "load static %} is not allowed"),
        ('{% extends "admin/base.html" %}', "may only name a channels/email/ template"),
        ("<p>{{ title }}</p>", "must keep its unsubscribe link"),
    ],
)
def test_a_broken_or_unsafe_layout_is_a_form_error_and_nothing_is_saved(admin_client, source, error):
    response = add_layout(admin_client, source=source)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ChannelLayout.objects.exists()


def test_a_chat_payload_must_stay_json(admin_client):
    response = add_layout(admin_client, kind="slack", name="publication.json", source='{"text": {{ title }} }')
    assert response.status_code == 200 and "not valid JSON" in response.content.decode()


def test_the_live_preview_renders_the_text_or_says_what_is_wrong(admin_client):
    ok = admin_client.post(f"{ADMIN}/preview/", {"kind": "email", "name": "publication.html", "source": edited("LIVE")})
    assert ok.status_code == 200 and "LIVE" in ok.json()["part"]["html"]
    bad = admin_client.post(f"{ADMIN}/preview/", {"kind": "email", "name": "publication.html", "source": "{% endif %}"})
    assert bad.status_code == 400 and "Template syntax error" in bad.json()["extra"]["fields"]["source"][0]
    assert admin_client.get(f"{ADMIN}/preview/").status_code == 405


def test_revert_is_one_post_and_adds_a_version_with_the_earlier_text(admin_client, publisher, draft):
    first = layout_save(actor=publisher, kind="email", name="publication.html", topic=None, source=edited("ONE"))
    layout_save(actor=publisher, kind="email", name="publication.html", topic=None, source=edited("TWO"))
    assert "TWO" in publication_content(publication=draft)["email"]["html"]
    page = admin_client.get(f"{ADMIN}/{first.layout_id}/change/").content.decode()
    assert "Revert to v1" in page and 'formmethod="post"' in page
    assert admin_client.get(f"{ADMIN}/{first.layout_id}/revert/").status_code == 405
    response = admin_client.post(f"{ADMIN}/{first.layout_id}/revert/", {"version": "1"})
    assert response.status_code == 302
    layout = ChannelLayout.objects.get()
    assert layout.current_version == 3 and layout.versions.get(version=3).note == "Reverted to version 1"
    html = publication_content(publication=draft)["email"]["html"]
    assert "ONE" in html and "TWO" not in html


def test_reverting_to_a_version_that_does_not_exist_is_refused(publisher):
    version = layout_save(actor=publisher, kind="email", name="publication.html", topic=None, source=EMAIL_HTML)
    with pytest.raises(ApplicationError, match="no version 9"):
        layout_revert(actor=publisher, layout=version.layout, version=9)


def test_an_editor_cannot_change_layouts(editor):
    with pytest.raises(ApplicationError, match="publisher role"):
        layout_save(actor=editor, kind="email", name="publication.html", topic=None, source=EMAIL_HTML)


def test_a_topic_layout_beats_the_all_topics_layout_and_a_topic_file_beats_both_defaults(publisher, draft, topic):
    layout_save(actor=publisher, kind="email", name="publication.html", topic=None, source=edited("ALL TOPICS"))
    security = Topic.objects.create(slug="security", name="Security")
    assert "ALL TOPICS" in publication_content(publication=draft)["email"]["html"]
    assert "ALL TOPICS" not in publication_content(publication=draft, topics=[security])["email"]["html"]
    layout_save(actor=publisher, kind="email", name="publication.html", topic=topic, source=edited("THIS TOPIC"))
    html = publication_content(publication=draft)["email"]["html"]
    assert "THIS TOPIC" in html and "ALL TOPICS" not in html


def test_merge_fields_in_a_layout_follow_the_merge_rules(publisher, draft):
    source = edited("Hi {{ subscriber.first_name|default:'there' }}")
    layout_save(actor=publisher, kind="email", name="publication.html", topic=None, source=source)
    content = publication_content(publication=draft)
    assert "{{{mf_0_html}}}" in content["email"]["html"] and content["merge_fields"]


def test_branding_shows_in_every_email(make_user, draft, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.SITE_URL = "https://news.example.com"
    admin = make_user(Role.ADMIN, is_superuser=True)
    client = Client()
    client.force_login(admin)
    data = {
        "site_name": "Acme News",
        "sender_name": "The Acme newsroom",
        "primary_colour": "#aa3300",
        "footer_text": "Written in Springfield.",
        "postal_address": "Acme, 2 Main Street, Springfield",
        "logo": image_file("logo.png", size=(200, 80), kind="PNG"),
    }
    response = client.post("/admin/publishing/branding/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    content = publication_content(publication=draft)["email"]
    for text in (
        "The Acme newsroom",
        "#aa3300",
        "Written in Springfield.",
        "Acme, 2 Main Street",
        "https://news.example.com/media/branding/",
    ):
        assert text in content["html"], text
    assert "Written in Springfield." in content["text"]
    assert "/admin/publishing/branding/add/" not in client.get("/admin/publishing/branding/").content.decode()


def test_a_bad_colour_is_a_form_error_and_only_admins_change_branding(make_user, publisher):
    admin = make_user(Role.ADMIN, is_superuser=True)
    client = Client()
    client.force_login(admin)
    response = client.post("/admin/publishing/branding/add/", {"primary_colour": "red;x{}"})
    assert response.status_code == 200 and "#rrggbb" in response.content.decode()
    assert not Branding.objects.exists()

    with pytest.raises(ApplicationError, match="admin role"):
        branding_update(actor=publisher, footer_text="x")


def test_editing_a_saved_layout_in_admin_adds_a_version(admin_client):
    assert add_layout(admin_client, source=edited("ONE")).status_code == 302
    layout = ChannelLayout.objects.get()
    response = admin_client.post(f"{ADMIN}/{layout.pk}/change/", {"source": edited("TWO"), "note": "second"})
    assert response.status_code == 302, response.content.decode()[:2000]
    layout.refresh_from_db()
    assert layout.current_version == 2 and "TWO" in layout.versions.get(version=2).source
    empty = admin_client.post(f"{ADMIN}/{layout.pk}/change/", {"source": " ", "note": ""})
    assert empty.status_code == 200 and "cannot be empty" in empty.content.decode()


def test_the_branding_sender_name_is_the_from_display_name_of_sent_email(
    make_user, draft, publisher, email_channel, outbox, make_readers, django_capture_on_commit_callbacks
):
    admin = make_user(Role.ADMIN, is_superuser=True)
    make_readers(1)
    branding_update(actor=admin, sender_name="The Acme newsroom")
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=draft, actor=publisher)
    (message,) = outbox()
    assert message["From"] == "The Acme newsroom <news@example.com>"


def test_without_a_sender_name_the_channel_from_address_is_kept(
    draft, publisher, email_channel, outbox, make_readers, django_capture_on_commit_callbacks
):
    make_readers(1)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=draft, actor=publisher)
    (message,) = outbox()
    assert message["From"] == "News <news@example.com>"


def test_ses_bulk_sends_carry_the_branding_sender_name(
    make_user, draft, publisher, ses_channel, ses_emulator, make_readers, django_capture_on_commit_callbacks
):
    branding_update(actor=make_user(Role.ADMIN, is_superuser=True), sender_name="Zoë's newsroom")
    make_readers(2)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=draft, actor=publisher)
    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": 1}
    (sender,) = {m["from"] for m in ses_emulator.messages()}
    name, address = parseaddr(sender)
    assert name.startswith("=?utf-8?")  # RFC 2047-encoded, as SES requires for non-ASCII names
    assert (str(make_header(decode_header(name))), address) == ("Zoë's newsroom", "news@example.com")
