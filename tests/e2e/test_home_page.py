"""The home page and the embeddable subscribe form in Chromium: subscribing from the home page,
and from a page of another site carrying the snippet (no CSRF token, another origin)."""

from __future__ import annotations

import pytest

from subscribers.models import Subscriber
from subscribers.ratelimit import rate_limits_reset
from tests.factories import PublicationFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    rate_limits_reset()
    yield
    rate_limits_reset()


def test_a_visitor_subscribes_from_the_home_page(live_server, page, screenshot):
    topic = TopicFactory(slug="news", name="News")
    PublicationFactory(topics=[topic], published=True, title="Release 4.2 is out")
    page.goto(f"{live_server.url}/")
    page.get_by_role("heading", name="Bulletin", exact=True).wait_for()
    assert page.get_by_role("link", name="Release 4.2 is out").is_visible()
    assert page.locator("link[rel=alternate][href='/archive/rss/']").count() == 1
    screenshot("home")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert Subscriber.objects.get(email="ada@example.com").status == Subscriber.Status.PENDING


def test_the_embedded_form_works_from_another_site(live_server, page, settings, screenshot):
    settings.SITE_URL = live_server.url
    TopicFactory(slug="news", name="News")
    from subscribers.embed import embed_snippet

    snippet = embed_snippet()
    # Another origin: the partner's page, served by Playwright (no cookie, no CSRF token of ours). Plain
    # http like the live server: from https to http a browser sends no Origin (a downgrade).
    page.route(
        "http://partner.example.org/",
        lambda route: route.fulfill(body=f"<html><body>{snippet}</body></html>", content_type="text/html"),
    )
    page.goto("http://partner.example.org/")
    page.get_by_label("Email address").fill("grace@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    screenshot("embed-thanks")
    subscriber = Subscriber.objects.get(email="grace@example.com")
    assert subscriber.consent_records.get().source == "embed: http://partner.example.org"
