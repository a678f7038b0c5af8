"""Admin: message templates saved through the services; a text edit is a new version; preview."""

from __future__ import annotations

import pytest

from publishing.transactional_models import MessageTemplate
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def test_a_template_edited_in_admin_gets_a_new_version_and_a_preview(admin_client):
    channel = ChannelFactory()
    form = {
        "name": "receipt",
        "description": "",
        "channel": channel.pk,
        "subject": "Order {{ data.order }}",
        "body": "Hi {{ subscriber.first_name }}",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    assert admin_client.post("/admin/publishing/messagetemplate/add/", form).status_code == 302
    template = MessageTemplate.objects.get()
    response = admin_client.post(
        f"/admin/publishing/messagetemplate/{template.pk}/change/", {**form, "body": "Hello {{ data.name }}"}
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.current_version == 2 and template.body == "Hello {{ data.name }}"
    page = admin_client.get(f"/admin/publishing/messagetemplate/{template.pk}/change/").content.decode()
    assert "Order [order]" in page and "Hello [name]" in page


def test_a_bad_merge_field_is_refused_in_admin(admin_client):
    form = {"name": "x", "description": "", "channel": ChannelFactory().pk, "subject": "S",
            "body": "{{ data.a.b }}", "versions-TOTAL_FORMS": "0", "versions-INITIAL_FORMS": "0"}  # fmt: skip
    response = admin_client.post("/admin/publishing/messagetemplate/add/", form)
    assert response.status_code == 200 and not MessageTemplate.objects.exists()
    assert "body" in response.context["adminform"].form.errors
