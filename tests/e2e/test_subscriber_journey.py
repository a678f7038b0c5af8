"""Subscribe → confirmation email in the outbox → confirm → change a frequency → one-click
unsubscribe, in a real headless Chromium against the live server (PostgreSQL on CI)."""

from __future__ import annotations

import email
import re
from email import policy

import pytest

from subscribers.links import unsubscribe_url
from subscribers.models import Subscriber, Subscription
from subscribers.ratelimit import rate_limits_reset
from tests.factories import TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    rate_limits_reset()
    TopicFactory(slug="engineering", name="Engineering", description="How we build things.")
    TopicFactory(slug="security", name="Security advisories", description="Fixes that need you now.")
    yield live_server
    rate_limits_reset()


def _only_message(outbox):
    files = sorted(outbox.glob("*.eml"))
    assert len(files) == 1, files
    return email.message_from_bytes(files[0].read_bytes(), policy=policy.default)


def test_subscribe_confirm_change_preferences_and_one_click_unsubscribe(site, page, screenshot, settings):
    page.goto(f"{site.url}/subscribe")
    assert page.title().startswith("Subscribe")
    screenshot("subscribe-page")

    # Keyboard first: the skip link, then the email field, are reachable with Tab.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Skip to content"
    page.get_by_label("Email address").fill("e2e.reader@example.com")
    page.get_by_label("Name (optional)").fill("Eve Reader")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    screenshot("check-your-inbox")

    message = _only_message(settings.BULLETIN_OUTBOX_DIR)
    assert message["To"] == "e2e.reader@example.com"
    assert message["Subject"].startswith("Confirm your subscription")
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert message.get_body(preferencelist=("html",)) is not None
    confirm_link = re.search(r"https?://\S+/confirm/\S+", text).group(0)
    subscriber = Subscriber.objects.get(email="e2e.reader@example.com")
    assert subscriber.status == "pending"

    page.goto(confirm_link)
    screenshot("confirm-page")
    subscriber.refresh_from_db()
    assert subscriber.status == "pending", "opening the link alone confirms nothing"
    page.get_by_role("button", name="Yes, confirm my subscription").click()
    page.get_by_text("You are subscribed.").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    assert subscriber.consent_records.filter(action="confirmed", user_agent__icontains="Chrome").exists()
    screenshot("preference-centre")

    page.get_by_label("Engineering by email").select_option("weekly")
    page.get_by_role("button", name="Save preferences").click()
    page.get_by_text("Your preferences are saved.").wait_for()
    engineering = Subscription.objects.get(subscriber=subscriber, topic__slug="engineering", channel_kind="email")
    assert engineering.frequency == "weekly"
    assert page.get_by_label("Engineering by email").input_value() == "weekly"
    screenshot("preferences-saved")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("preference-centre-mobile")
    page.set_viewport_size({"width": 1280, "height": 900})

    # What a mail provider does with List-Unsubscribe-Post (RFC 8058): no cookie, no CSRF token.
    url = unsubscribe_url(subscriber_id=subscriber.pk)
    response = page.request.post(url, form={"List-Unsubscribe": "One-Click"})
    assert response.status == 200
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"

    page.goto(url)
    page.get_by_role("heading", name="You are already unsubscribed").wait_for()
    screenshot("unsubscribed")


def test_the_unsubscribe_page_button_works_and_a_get_alone_does_not(site, page, screenshot):
    from tests.factories import SubscriberFactory

    subscriber = SubscriberFactory(email="button@example.com")
    page.goto(unsubscribe_url(subscriber_id=subscriber.pk))
    page.get_by_role("heading", name="Unsubscribe from everything?").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"
    screenshot("unsubscribe-confirmation")
    page.get_by_role("button", name="Unsubscribe").click()
    page.get_by_role("heading", name="You are unsubscribed").wait_for()
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    screenshot("unsubscribed-by-button")


def test_a_tampered_link_shows_a_friendly_page(site, page, screenshot):
    response = page.goto(f"{site.url}/preferences/not-a-real-token")
    assert response.status == 400
    page.get_by_role("heading", name=re.compile("incomplete or damaged")).wait_for()
    assert page.get_by_label("Your email address").is_visible()
    screenshot("tampered-link")
