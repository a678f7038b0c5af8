"""The editor's day in Chromium (issue 16, "Done when"): home page → subscribe → confirm → the
editor composes in the rich editor with an uploaded image (alt text asked) → duplicates →
schedules in local time → publishes → the email reaches the subscriber and renders at 390 px
without sideways scrolling.

Screenshots: docs/screenshots/ with SAVE_SCREENSHOTS=1 (the README shows them), a temporary
folder otherwise."""

from __future__ import annotations

import email
import io
import os
import re
from datetime import UTC, datetime
from email import policy
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect

from core.roles import Role
from publishing.models import Publication
from subscribers.models import Subscriber
from subscribers.ratelimit import rate_limits_reset
from tests.factories import ChannelFactory, PublicationFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def shots(tmp_path):
    """shots(page, "name") saves name.png: to docs/screenshots/ when SAVE_SCREENSHOTS=1."""
    folder = DOCS_SCREENSHOTS if os.environ.get("SAVE_SCREENSHOTS") == "1" else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)

    def _take(page, name: str, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return _take


@pytest.fixture
def site(live_server, settings, tmp_path):
    settings.SITE_URL = live_server.url
    settings.EMAIL_BACKEND = "core.mail.OutboxEmailBackend"
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"
    settings.MEDIA_ROOT = tmp_path / "media"
    rate_limits_reset()
    ChannelFactory(
        name="Local outbox",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "News <news@example.com>"},
    )
    yield live_server
    rate_limits_reset()


def outbox_messages(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in sorted(folder.glob("*.eml"))]


def chart_png(path: Path) -> Path:
    image = Image.new("RGB", (2000, 1000), (37, 99, 235))
    for x in range(0, 2000, 250):
        image.paste((250, 204, 21), (x, 1000 - x // 3, x + 180, 1000))
    out = io.BytesIO()
    image.save(out, "PNG")
    path.write_bytes(out.getvalue())
    return path


def subscribe_and_confirm(page, site, settings, shots) -> Subscriber:
    page.goto(f"{site.url}/")
    page.get_by_role("heading", name="Bulletin", exact=True).wait_for()
    shots(page, "home", full_page=True)
    page.get_by_label("Email address").fill("reader@example.com")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Check your inbox").wait_for()
    (confirmation,) = outbox_messages(settings.BULLETIN_OUTBOX_DIR)
    text = confirmation.get_body(preferencelist=("plain",)).get_content()
    page.goto(re.search(r"https?://\S+/confirm/\S+", text).group(0))
    page.get_by_role("button", name="Yes, confirm my subscription").click()
    page.get_by_text("You are subscribed.").wait_for()
    for message in settings.BULLETIN_OUTBOX_DIR.glob("*.eml"):
        message.unlink()  # from here on, the outbox holds what the editor sends
    return Subscriber.objects.get(email="reader@example.com", status="active")


def log_in(page, site, user) -> None:
    page.goto(f"{site.url}/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def compose_with_image(page, site, tmp_path, shots) -> Publication:
    page.goto(f"{site.url}/admin/publishing/publication/add/")
    page.get_by_label("Title").fill("Sign-ups doubled this quarter")
    page.locator(".EasyMDEContainer .CodeMirror").click()
    page.keyboard.type("Here is how it went. ")
    page.keyboard.press("Control+B")  # the editor's keyboard shortcut for bold
    page.keyboard.type("Twice as many")
    page.keyboard.press("End")
    page.keyboard.type(" readers signed up.")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.once("dialog", lambda dialog: dialog.accept("Bar chart of sign-ups per month"))
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Upload an image (or drop or paste one)").click()
    chooser.value.set_files(str(chart_png(tmp_path / "chart.png")))
    body = page.locator("textarea.compose-body")
    expect(body).to_have_value(re.compile(r"/media/editor/"))  # polled from here: the CSP forbids eval
    markdown = body.input_value()
    assert "**Twice as many**" in markdown
    assert re.search(r"!\[Bar chart of sign-ups per month\]\(http://[^)]+/media/editor/[^)]+\.png\)", markdown)
    preview = page.frame_locator('#compose-preview iframe[data-preview="email"]')
    preview.locator('img[alt="Bar chart of sign-ups per month"]').wait_for()  # the live preview shows it
    page.get_by_role("checkbox", name="News").check()
    page.get_by_label("Title").scroll_into_view_if_needed()
    shots(page, "compose-rich-editor")
    page.get_by_role("button", name="Save and continue editing").click()
    page.get_by_text("was added successfully").wait_for()
    return Publication.objects.get(title="Sign-ups doubled this quarter")


def schedule_in_local_time(page, site, publication: Publication, shots) -> None:
    page.goto(f"{site.url}/admin/publishing/publication/time-zone/")
    page.get_by_label("Time zone").select_option("Europe/Paris")
    page.get_by_role("button", name="Save").click()
    page.goto(f"{site.url}/admin/publishing/publication/{publication.pk}/publish/")
    page.get_by_label("Publish at (Europe/Paris)").fill("2027-01-15T09:30")
    page.get_by_role("button", name="Show the times").click()
    assert "2027-01-15 08:30 UTC" in page.locator("#publish-times").inner_text()
    page.get_by_label(re.compile("I have checked the audience")).check()
    shots(page, "schedule-local-time", full_page=True)
    page.get_by_role("button", name="Confirm and publish").click()
    page.get_by_text("is scheduled").wait_for()
    publication.refresh_from_db()
    assert publication.state == "scheduled" and publication.publish_at == datetime(2027, 1, 15, 8, 30, tzinfo=UTC)


def test_the_editors_day_from_home_page_to_an_email_that_fits_a_phone(
    site, browser, settings, make_user, tmp_path, shots
):
    topic = TopicFactory(slug="news", name="News", description="What happened this week.")
    PublicationFactory(topics=[topic], published=True, title="Welcome to the newsletter")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    reader = subscribe_and_confirm(page, site, settings, shots)
    assert reader.subscriptions.filter(topic=topic).exists()

    publisher = make_user(Role.PUBLISHER, username="pat")
    log_in(page, site, publisher)
    original = compose_with_image(page, site, tmp_path, shots)

    page.get_by_role("button", name="Duplicate as a new draft").click()
    page.get_by_text("is a new draft copy").wait_for()
    copy = Publication.objects.exclude(pk=original.pk).get(title__endswith="(copy)")
    assert copy.body == original.body and copy.state == "draft"

    schedule_in_local_time(page, site, copy, shots)
    # Plans change: it goes out now (the scheduled one is published from the same page).
    page.goto(f"{site.url}/admin/publishing/publication/{copy.pk}/publish/")
    page.get_by_label("Publish at (Europe/Paris)").fill("")
    page.get_by_label(re.compile("I have checked the audience")).check()
    page.get_by_role("button", name="Confirm and publish").click()
    page.get_by_text("is published").wait_for()
    copy.refresh_from_db()
    assert copy.state == "published"
    page.goto(f"{site.url}/admin/")
    page.get_by_role("link", name=copy.title).wait_for()  # the landing dashboard lists the send
    shots(page, "admin-dashboard")

    (message,) = [m for m in outbox_messages(settings.BULLETIN_OUTBOX_DIR) if m["To"] == "reader@example.com"]
    html = message.get_body(preferencelist=("html",)).get_content()
    image = re.search(r'<img[^>]+src="(http://[^"]+/media/editor/[^"]+)"[^>]*>', html)
    assert image and 'alt="Bar chart of sign-ups per month"' in image.group(0)

    phone = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")
    reader_page = phone.new_page()
    reader_page.set_content(html, wait_until="load")
    assert reader_page.evaluate("document.querySelector('img[alt^=\"Bar chart\"]').naturalWidth") == 1200
    assert reader_page.evaluate("document.documentElement.scrollWidth") == 390
    shots(reader_page, "email-390px", full_page=True)
    phone.close()
    context.close()


def drop_or_paste(page, kind: str, png: bytes) -> None:
    """A PNG dropped on (or pasted into) the editor, as a browser delivers it: a DataTransfer."""
    transfer = page.evaluate_handle(
        """(bytes) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
            return transfer;
        }""",
        list(png),
    )
    # CodeMirror listens for drops on its scroller and for pastes on its hidden input textarea.
    if kind == "drop":
        page.locator(".EasyMDEContainer .CodeMirror-scroll").dispatch_event("drop", {"dataTransfer": transfer})
    else:
        # Playwright has no ClipboardEvent of its own: the page makes one around the same DataTransfer.
        page.locator(".EasyMDEContainer .CodeMirror textarea").evaluate(
            "(input, data) => input.dispatchEvent("
            "new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))",
            transfer,
        )


@pytest.mark.parametrize("kind", ["drop", "paste"])
def test_an_image_dropped_or_pasted_into_the_editor_is_uploaded_with_its_alt_text(
    site, browser, make_user, tmp_path, kind
):
    editor = make_user(Role.EDITOR, username="eddie")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log_in(page, site, editor)
    page.goto(f"{site.url}/admin/publishing/publication/add/")
    page.once("dialog", lambda dialog: dialog.accept(f"A chart by {kind}"))
    drop_or_paste(page, kind, chart_png(tmp_path / "chart.png").read_bytes())
    body = page.locator("textarea.compose-body")
    expect(body).to_have_value(re.compile(rf"!\[A chart by {kind}\]\(http://[^)]+/media/editor/[^)]+\.png\)"))
    stored = list((Path(site_media(tmp_path)) / "editor").rglob("*.png"))
    assert len(stored) == 1 and Image.open(stored[0]).width == 1200
    context.close()


def site_media(tmp_path: Path) -> Path:
    return tmp_path / "media"
