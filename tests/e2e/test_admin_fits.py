"""Admin at 1366 px in Chromium: Bulletin's name, and tables that fit (or scroll inside their box)
with State, Attempts, Last error and Dead in view."""

from __future__ import annotations

import pytest

from channels_app.models import Delivery
from tests.factories import ChannelFactory, DeliveryFactory, PublicationFactory, SendFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

WIDTH = 1366
LONG_ERROR = "HTTP 503 from hooks.partner-integration.example.com: upstream connect error or disconnect/reset " * 3


def _data():
    topic = TopicFactory(slug="platform-engineering-weekly", name="Platform engineering weekly")
    publication = PublicationFactory(
        title="A rather long title of a publication about the platform migration", topics=[topic], published=True
    )
    send = SendFactory(key=f"publication:{publication.pk}:newsletter-with-a-long-key", publication=publication)
    channels = [
        ChannelFactory(name="Amazon SES newsletters (eu-west-1, production account)", kind="email"),
        ChannelFactory(
            name="Partner webhook for the long-named integration",
            kind="webhook",
            audience="broadcast",
            config={"url": "https://hooks.partner-integration.example.com/bulletin/incoming/v2"},
        ),
    ]
    for i, state in enumerate([Delivery.State.DEAD, Delivery.State.FAILED, Delivery.State.SENT] * 4):
        DeliveryFactory(
            send=send,
            channel=channels[i % 2],
            state=state,
            attempts=i,
            last_error=LONG_ERROR if state != Delivery.State.SENT else "",
            recipient=f"someone.with.a.very.long.address.{i}@subdomain.of.an-example-company.example.com",
        )
    return publication


def _login(page, live_server, admin_user, path):
    page.goto(f"{live_server.url}/admin/login/?next={path}")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()


# Seen without scrolling: inside the viewport and inside every box that clips it (a table that
# scrolls in its box hides what is past the box's edge).
_VISIBLE = """el => {
  const r = el.getBoundingClientRect();
  let left = 0, right = window.innerWidth;
  for (let p = el.parentElement; p; p = p.parentElement) {
    if (getComputedStyle(p).overflowX !== "visible") {
      const box = p.getBoundingClientRect();
      left = Math.max(left, box.left); right = Math.min(right, box.right);
    }
  }
  return r.width > 0 && r.left >= left - 1 && r.right <= right + 1;
}"""


def _in_view(page, locator) -> bool:
    return locator.evaluate(_VISIBLE)


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.fixture
def wide_page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 768}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def test_admin_is_branded_bulletin_and_view_site_leads_home(live_server, wide_page, admin_user):
    _login(wide_page, live_server, admin_user, "/admin/")
    assert wide_page.title().endswith("Bulletin admin")
    assert wide_page.locator("#site-name").inner_text().strip().endswith("Bulletin")
    assert "Django administration" not in wide_page.content()
    wide_page.get_by_role("link", name="View site").click()
    wide_page.wait_for_url(f"{live_server.url}/")
    assert wide_page.locator("h1").first.inner_text() == "Bulletin"


def test_the_deliveries_list_keeps_state_attempts_and_last_error_in_view(
    live_server, wide_page, admin_user, screenshot
):
    _data()
    _login(wide_page, live_server, admin_user, "/admin/channels_app/delivery/")
    wide_page.locator("#result_list").wait_for()
    screenshot("deliveries", target=wide_page)
    for column in ("state", "attempts", "last_error"):
        assert _in_view(wide_page, wide_page.locator(f"#result_list th.column-{column}")), column
        assert _in_view(wide_page, wide_page.locator(f"#result_list td.field-{column}").first), column
    assert _page_width(wide_page) == WIDTH


def test_the_publications_deliveries_table_keeps_dead_in_view(live_server, wide_page, admin_user, screenshot):
    publication = _data()
    _login(wide_page, live_server, admin_user, f"/admin/publishing/publication/{publication.pk}/change/")
    table = wide_page.locator(".delivery-stats table")
    table.wait_for()
    screenshot("publication", target=wide_page)
    assert _in_view(wide_page, table.locator("th", has_text="Dead"))
    assert _in_view(wide_page, table.locator("tbody tr").first.locator("td").last)
    assert _page_width(wide_page) == WIDTH
