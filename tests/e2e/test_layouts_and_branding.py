"""In Chromium: an admin sets the branding, then a publisher edits the email layout with its live
preview (a syntax error shows at once and is refused on save), saves it and reverts with one
click. Screenshots: docs/screenshots/ with SAVE_SCREENSHOTS=1."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.roles import Role
from publishing.layout_models import ChannelLayout
from tests.e2e.test_editor_day import PASSWORD, log_in, shots  # noqa: F401  (the screenshot fixture)

EXTENDS = '{% extends "channels/email/publication.html" %}'
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.MEDIA_ROOT = tmp_path / "media"
    return live_server


def test_branding_and_a_layout_edited_with_live_preview_then_reverted(site, browser, make_user, shots):  # noqa: F811
    admin = make_user(Role.ADMIN, username="ada", is_superuser=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, site, admin)

    page.goto(f"{site.url}/admin/publishing/branding/add/")
    page.get_by_label("Sender name").fill("The Acme newsroom")
    page.get_by_label("Primary colour").fill("#b45309")
    page.get_by_label("Footer text").fill("Written and sent from Springfield.")
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was changed successfully").or_(page.get_by_text("was added successfully")).wait_for()

    page.goto(f"{site.url}/admin/publishing/channellayout/add/")
    page.get_by_label("Kind").select_option("email")
    page.get_by_label("Template").select_option("publication.html")
    source = page.get_by_label("Source")
    source.fill(EXTENDS + "{% block header %}{{ site_name }} · Weekly{% endblock %}")
    preview = page.frame_locator('#layout-preview iframe[data-preview="html"]')
    expect(preview.locator(".header")).to_contain_text("The Acme newsroom · Weekly")
    expect(preview.locator(".footer")).to_contain_text("Written and sent from Springfield.")
    shots(page, "layout-live-preview")

    source.fill(EXTENDS + "{% block header %}{% if %}{% endblock %}")
    expect(page.locator("#layout-preview .compose-problems")).to_contain_text("Template syntax error")
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".errorlist")).to_contain_text("Template syntax error")
    assert not ChannelLayout.objects.exists()

    source.fill(EXTENDS + "{% block header %}Version one{% endblock %}")
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_text("was added successfully").wait_for()
    page.get_by_label("Source").fill(EXTENDS + "{% block header %}Version two{% endblock %}")
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_text("was changed successfully").wait_for()
    page.get_by_role("button", name="Revert to v1").click()
    page.get_by_text(re.compile("reverted to version 1; it is version 3")).wait_for()
    assert "Version one" in page.get_by_label("Source").input_value()
    shots(page, "layout-versions", full_page=True)
    context.close()
