"""An editor composes, previews every channel, test-sends and submits; a publisher reviews the
audience and schedules; the beat publishes it and the send goes out. Real headless Chromium
against the live server (PostgreSQL on CI), screenshots in tests/artifacts/."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from channels_app.models import Send
from core.roles import Role
from publishing.models import Publication
from publishing.services.publish import publications_publish_due
from tests.e2e.editor import fill_body
from tests.factories import ChannelFactory, SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    settings.CELERY_TASK_ALWAYS_EAGER = True
    ChannelFactory(
        name="Local outbox",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "News <news@example.com>"},
    )
    topic = TopicFactory(slug="engineering", name="Engineering")
    for i in range(3):
        SubscriptionFactory(subscriber=SubscriberFactory(email=f"reader{i}@example.com"), topic=topic)
    return live_server


def _login(browser, site, user):
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{site.url}/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    return page


def _preview_shows(page, text: str) -> None:
    # Not wait_for_function: Playwright polls it with eval(), which the Content-Security-Policy forbids.
    expect(page.locator("[data-preview=email]")).to_have_attribute(
        "srcdoc", re.compile(re.escape(text)), timeout=15_000
    )


def test_editor_composes_previews_test_sends_submits_and_a_publisher_schedules_it(
    site, browser, make_user, screenshot, settings, django_capture_on_commit_callbacks
):
    editor = make_user(Role.EDITOR, username="eddie", email="eddie@example.com")
    publisher = make_user(Role.PUBLISHER, username="pat", email="pat@example.com")

    page = _login(browser, site, editor)
    page.goto(f"{site.url}/admin/publishing/publication/add/")
    page.get_by_label("Title:").fill("Postmortem: the queue that would not drain")
    page.get_by_label("Summary:").fill("What happened on Tuesday, and what we changed.")
    fill_body(
        page,
        "## What happened\n\nA **retry storm** filled the queue.\n\n- detected in 4 minutes\n- fixed in 40\n\n"
        "Details in [the runbook](https://example.com/runbook).",
    )
    page.get_by_label("Engineering").check()
    _preview_shows(page, "retry storm")
    assert page.locator("[data-preview=subject]").inner_text() == "Postmortem: the queue that would not drain"
    screenshot("compose-email-preview", page)
    for tab, selector, expected in [
        ("Plain text", "[data-preview=email-text]", "- detected in 4 minutes"),
        ("Slack", ".slack-header", "Postmortem: the queue that would not drain"),
        ("Discord", ".discord-title", "Postmortem: the queue that would not drain"),
        ("Webhook", "[data-preview=webhook]", '"type": "publication.published"'),
    ]:
        page.get_by_role("tab", name=tab).click()
        assert expected in page.locator(selector).first.inner_text()
        screenshot(f"compose-{tab.lower().replace(' ', '-')}-preview", page)

    fill_body(page, "Hi <script>alert(1)</script>")
    page.wait_for_selector("[data-preview=problems] li")
    assert page.locator("[data-preview=problems]").inner_text() == "<script> is not allowed"
    screenshot("compose-refuses-script", page)
    fill_body(page, "## What happened\n\nA **retry storm** filled the queue. [Runbook](https://example.com/runbook).")
    _preview_shows(page, ">Runbook<")

    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_text("was added successfully").wait_for()
    publication = Publication.objects.get()
    assert publication.author == editor and publication.state == "draft"

    page.get_by_role("button", name="Send test").click()
    page.get_by_text("Test sent to eddie@example.com").wait_for()
    screenshot("test-sent", page)
    [test_mail] = list((settings.BULLETIN_OUTBOX_DIR).glob("*.eml"))
    assert "[TEST] Postmortem" in test_mail.read_text()

    assert page.get_by_role("link", name=re.compile("Approve")).count() == 0, "editors cannot publish"
    page.get_by_role("button", name="Submit for review").click()
    page.get_by_text("is now in review").wait_for()
    screenshot("submitted", page)
    page.context.close()

    page = _login(browser, site, publisher)
    page.goto(f"{site.url}/admin/publishing/publication/{publication.pk}/change/")
    page.get_by_role("link", name="Approve: schedule or publish…").click()
    assert page.locator("#audience-total").inner_text() == "3"
    when = timezone.now() + timedelta(hours=1)
    page.get_by_label("Publish at (UTC)").fill(when.strftime("%Y-%m-%dT%H:%M"))
    screenshot("publish-confirmation", page)
    page.get_by_role("button", name="Confirm and publish").click()  # not confirmed: the browser refuses
    assert page.locator("#id_confirm").evaluate("el => el.validity.valueMissing")
    assert Publication.objects.get().state == "in_review"
    page.get_by_label(re.compile("I have checked the audience")).check()
    page.get_by_role("button", name="Confirm and publish").click()
    page.get_by_text("is scheduled").wait_for()
    publication.refresh_from_db()
    assert publication.state == "scheduled" and publication.approved_by == publisher
    screenshot("scheduled", page)

    with django_capture_on_commit_callbacks(execute=True):  # the beat tick at publish time
        assert publications_publish_due(now=publication.publish_at + timedelta(seconds=5)) == 1
    send = Send.objects.get(publication=publication)
    assert send.status == "completed" and send.deliveries.filter(state="sent").count() == 3
    mails = [p.read_text() for p in settings.BULLETIN_OUTBOX_DIR.glob("*.eml")]
    assert sum("reader" in m and "[Test]" not in m for m in mails) == 3

    page.reload()
    _preview_shows(page, "retry storm")
    assert "Published" in page.locator(".compose-state").inner_text()
    assert f"publication:{publication.pk}:newsletter" in page.content()
    screenshot("published-with-deliveries", page)
    archive_link = page.get_by_role("link", name="View in the public archive").get_attribute("href")
    page.goto(archive_link)
    page.get_by_role("heading", name="Postmortem: the queue that would not drain").wait_for()
    screenshot("archive-page", page)


def test_a_publisher_sees_why_a_subscriber_s_digest_ranks_what_it_ranks(site, browser, make_user, screenshot):
    from publishing.models import Publication as P
    from tests.factories import PublicationFactory

    topic = TopicFactory(slug="engineering")
    reader = SubscriberFactory(email="ranked@example.com", name="Ranked Reader")
    SubscriptionFactory(subscriber=reader, topic=topic, frequency="daily")
    now = timezone.now()
    for i, quality in enumerate([0.9, 0.4, None]):
        PublicationFactory(
            topics=[topic],
            state=P.State.PUBLISHED,
            published_at=now - timedelta(hours=3 * (i + 1)),
            title=f"Engineering note {i + 1}",
            summary="Why we changed the retry policy.",
            quality_score=quality,
        )
    page = _login(browser, site, make_user(Role.PUBLISHER, username="ranker"))
    page.goto(f"{site.url}/admin/publishing/digestlog/")
    page.get_by_role("link", name="Explain a subscriber's ranking").click()
    page.get_by_label("Subscriber (id or email)").fill("ranked@example.com")
    page.get_by_role("button", name="Explain").click()
    page.get_by_role("heading", name="The digest they would get now").wait_for()
    rows = page.locator(".ranking-table tbody tr")
    assert rows.count() == 3 and "Engineering note 1" in rows.first.inner_text()
    preview = page.frame_locator("iframe.ranking-preview")
    preview.get_by_role("heading", name="Your daily digest").wait_for()
    assert "Picked for you, Ranked Reader" in preview.locator("body").inner_text()
    screenshot("ranking-explained", page)
