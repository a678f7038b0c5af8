"""In Chromium: a publisher duplicates a sent publication, picks their time zone, checks the times
(theirs, UTC, the audience's), sees the warning about the recent send to the same topic, schedules
in local time, and finds it on the calendar. Screenshots in tests/artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from core.roles import Role
from publishing.models import Publication
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    ChannelFactory(
        name="Local outbox", kind="email", is_default=True, config={"esp": "outbox", "from_email": "n@example.com"}
    )
    return live_server


def test_a_publisher_duplicates_schedules_in_local_time_and_sees_the_calendar(site, browser, make_user, screenshot):
    topic = TopicFactory(slug="engineering", name="Engineering")
    for zone in ("America/New_York", "America/New_York", "Asia/Tokyo"):
        SubscriptionFactory(subscriber=SubscriberFactory(timezone=zone), topic=topic)
    sent = PublicationFactory(
        title="Weekly engineering notes",
        state="published",
        published_at=timezone.now() - timedelta(hours=2),
        topics=[topic],
    )
    publisher = make_user(Role.PUBLISHER, username="pat")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{site.url}/admin/login/")
    page.get_by_label("Username").fill(publisher.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))

    page.goto(f"{site.url}/admin/publishing/publication/{sent.pk}/change/")
    page.get_by_role("button", name="Duplicate as a new draft").click()
    page.get_by_text("is a new draft copy").wait_for()
    copy = Publication.objects.exclude(pk=sent.pk).get()
    assert copy.title == "Weekly engineering notes (copy)" and copy.state == "draft"
    screenshot("duplicated", page)

    page.goto(f"{site.url}/admin/publishing/publication/")
    page.get_by_role("link", name="Your time zone").click()
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Admin now shows times in Europe/Paris").wait_for()

    page.goto(f"{site.url}/admin/publishing/publication/{copy.pk}/publish/")
    assert "Weekly engineering notes" in page.locator(".recent-overlaps").inner_text()
    page.get_by_label("Publish at (Europe/Paris)").fill("2027-01-15T09:30")
    page.get_by_role("button", name="Show the times").click()
    times = page.locator("#publish-times").inner_text()
    assert "2027-01-15 09:30 Europe/Paris" in times and "2027-01-15 08:30 UTC" in times
    assert "Fri 2027-01-15 03:30" in times and "Fri 2027-01-15 17:30" in times
    screenshot("publish-local-times-and-warning", page)
    page.get_by_label("Publish at (Europe/Paris)").fill("2027-03-28T02:30")
    page.get_by_role("button", name="Show the times").click()
    page.get_by_text("does not exist in Europe/Paris").wait_for()
    screenshot("dst-gap-refused", page)
    page.get_by_label("Publish at (Europe/Paris)").fill("2027-01-15T09:30")
    page.get_by_label(re.compile("I have checked the audience")).check()
    page.get_by_role("button", name="Confirm and publish").click()
    page.get_by_text("is scheduled").wait_for()
    copy.refresh_from_db()
    assert copy.state == "scheduled" and copy.publish_at == datetime(2027, 1, 15, 8, 30, tzinfo=UTC)

    page.goto(f"{site.url}/admin/publishing/publication/")
    page.get_by_role("link", name="Calendar of scheduled sends").click()
    page.goto(f"{page.url}?month=2027-01")
    day = page.locator('td[data-day="2027-01-15"]').inner_text()
    assert "09:30" in day and "Weekly engineering notes (copy)" in day
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1366
    screenshot("calendar", page)
    context.close()
