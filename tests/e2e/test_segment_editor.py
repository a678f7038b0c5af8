"""An editor writes a segment in admin and sees the live count and a sample change as they type,
and a bad rule named by its node; then saves it. Real headless Chromium against the live server."""

from __future__ import annotations

import json
import re

import pytest

from core.roles import Role
from subscribers.models import Segment, SubscriberField
from tests.factories import SubscriberFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def _count_is(page, text: str) -> None:
    page.wait_for_function(
        "text => document.querySelector('[data-segment=count]').textContent === text", arg=text, timeout=15_000
    )


def test_the_segment_editor_counts_and_samples_as_the_editor_types(live_server, browser, make_user, screenshot):
    SubscriberField.objects.create(key="country", label="Country", type="text")
    for i, country in enumerate(["DE", "DE", "FR"]):
        SubscriberFactory(email=f"reader{i}@example.com", attributes={"country": country})
    editor = make_user(Role.EDITOR, username="eddie", is_staff=True)
    editor.set_password(PASSWORD)
    editor.save()
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Username").fill("eddie")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    page.goto(f"{live_server.url}/admin/subscribers/segment/add/")
    page.get_by_label("Name:").fill("Germany")
    rules = page.locator("textarea[name=rules]")
    rules.fill(json.dumps({"type": "attribute", "key": "country", "op": "eq", "value": "DE"}))
    _count_is(page, "2")
    assert "reader1@example.com" in page.locator("[data-segment=sample]").inner_text()
    rules.fill(json.dumps({"type": "and", "rules": [{"type": "attribute", "key": "shoe", "op": "eq", "value": 1}]}))
    page.wait_for_selector("[data-segment=problems] li")
    assert "rules[0]" in page.locator("[data-segment=problems]").inner_text()
    rules.fill(json.dumps({"type": "attribute", "key": "country", "op": "in", "value": ["DE", "FR"]}))
    _count_is(page, "3")
    screenshot("segment-editor", page)
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text("was added successfully").wait_for()
    assert Segment.objects.get().rules["value"] == ["DE", "FR"]
