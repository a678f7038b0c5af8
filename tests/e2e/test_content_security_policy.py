"""The Content-Security-Policy holds in a real Chromium (issue 11, item 13): the admin compose
page with its live preview (script file, fetch, srcdoc iframe of inlined-CSS email), Swagger UI
and public pages work with no violation reported, while an injected inline script is blocked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from core.roles import Role
from tests.e2e.editor import fill_body
from tests.factories import ChannelFactory, PublicationFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"
# Each document (srcdoc frames included) reports violations to the page and the console.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.effectiveDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture
def site(live_server, settings):
    settings.SITE_URL = live_server.url
    ChannelFactory(
        name="Local outbox",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "News <news@example.com>"},
    )
    topic = TopicFactory(slug="engineering", name="Engineering", is_public=True)
    PublicationFactory(
        published=True,
        slug="queue-postmortem",
        title="The queue that would not drain",
        body="A **retry storm**.\n\n![chart](https://example.com/chart.png)",
        topics=[topic],
    )
    return live_server


@pytest.fixture
def watched(page):
    """The page, recording CSP violations from window events and console errors."""
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(WATCH)
    page.csp_console = console
    return page


def _violations(page) -> list[str]:
    return page.evaluate("window.__csp") + page.csp_console


def _preview_shows(page, text: str) -> None:
    # Not wait_for_function: Playwright polls it with eval(), which this very policy forbids.
    expect(page.locator("[data-preview=email]")).to_have_attribute("srcdoc", re.compile(re.escape(text)))


def _login(page, site, user) -> None:
    page.goto(f"{site.url}/admin/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def test_admin_compose_and_live_preview_work_without_a_violation(site, watched, make_user, screenshot):
    page = watched
    _login(page, site, make_user(Role.EDITOR, username="eddie"))
    page.goto(f"{site.url}/admin/publishing/publication/add/")
    page.get_by_label("Title:").fill("Preview under a strict policy")
    fill_body(page, "A **bold** claim, [a link](https://example.com/) and ![img](https://example.com/i.png)")
    _preview_shows(page, "bold")
    frame = page.frame_locator("[data-preview=email]")
    # The email keeps its inlined styles inside the sandboxed preview.
    assert "bold" in frame.locator("body").inner_text()
    assert frame.locator("[style]").count() > 0
    for tab in ("Slack", "Discord", "Webhook", "Plain text", "Email"):
        page.get_by_role("tab", name=tab).click()
    expect(page.locator(".compose-status")).to_have_text("up to date")  # the last refresh has landed
    screenshot("csp-compose-preview", page)
    assert _violations(page) == []

    page.goto(f"{site.url}/admin/publishing/publication/")
    page.get_by_role("link", name="The queue that would not drain").click()
    _preview_shows(page, "retry storm")
    assert _violations(page) == []


def test_public_pages_and_swagger_ui_work_without_a_violation(site, watched, screenshot):
    page = watched
    for path, heading in [
        ("/archive/queue-postmortem/", "The queue that would not drain"),
        ("/archive/", None),
        ("/subscribe", None),
        ("/", None),
        ("/subscribe/embed", None),
    ]:
        response = page.goto(f"{site.url}{path}")
        assert response.status == 200 and "script-src 'self'" in response.headers["content-security-policy"]
        if heading:
            page.get_by_role("heading", name=heading).wait_for()
    screenshot("csp-public-subscribe", page)
    page.goto(f"{site.url}/api/docs/")
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Bulletin API" in page.locator(".swagger-ui .info .title").inner_text()
    screenshot("csp-swagger-ui", page)
    assert _violations(page) == []


def test_an_injected_inline_script_is_blocked_and_reported(site, watched):
    page = watched
    page.goto(f"{site.url}/subscribe")
    page.evaluate(
        """() => { const s = document.createElement("script"); s.textContent = "window.__ran = 1";
                   document.body.append(s); }"""
    )
    assert page.evaluate("window.__ran") is None
    assert any(v.startswith("script-src-elem inline") for v in _violations(page)), _violations(page)
