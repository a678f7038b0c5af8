"""The analytics dashboard in a real headless Chromium, built from data that went through the
real feedback loop (tracking hits → drain → rollups), with a screenshot of the page."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import GuardTrip
from analytics.services.ingest import Hit, tracking_hits_store
from analytics.services.rollups import rollups_update
from channels_app.models import Delivery, Send
from core.roles import Role
from tests.factories import ChannelFactory, DeliveryFactory, EngagementEventFactory, PublicationFactory, TopicFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def _history():
    now = timezone.now()
    topic = TopicFactory(slug="engineering", name="Engineering")
    email = ChannelFactory(name="SES newsletters", kind="email")
    slack = ChannelFactory(name="Slack #news", kind="slack", audience="broadcast", config={"channel": "C1"})
    links = ["https://example.com/release-notes", "https://example.com/migration-guide", "https://example.com/pricing"]
    hits = []
    for number, title in enumerate(["Release 4.2", "Postgres 17 upgrade", "Security advisory"]):
        published = now - timedelta(days=12 - number * 5)
        publication = PublicationFactory(title=title, topics=[topic], state="published", published_at=published)
        send = Send.objects.create(
            key=f"e2e-{number}",
            kind="newsletter",
            status="completed",
            publication=publication,
            content={"links": links},
        )
        for i in range(40):
            delivery = DeliveryFactory(
                send=send, channel=email, state=Delivery.State.DELIVERED, sent_at=published + timedelta(seconds=3 + i)
            )
            if i % 3 == 0:
                hits.append(
                    Hit(
                        "open",
                        delivery.pk,
                        (published + timedelta(hours=1 + i)).timestamp(),
                        BROWSER,
                        False,
                        uuid.uuid4().hex,
                    )
                )
            if i % 5 == 0:
                at = (published + timedelta(hours=2 + i)).timestamp()
                hits.append(Hit("click", delivery.pk, at, BROWSER, False, uuid.uuid4().hex, send.pk, i % 3))
            if i in (7, 8) and number == 2:
                EngagementEventFactory(
                    delivery=delivery, kind="bounce", occurred_at=published, metadata={"bounce_type": "hard"}
                )
        DeliveryFactory(send=send, channel=slack, subscriber=None, state=Delivery.State.SENT, sent_at=published)
    tracking_hits_store(hits=hits)
    rollups_update()
    GuardTrip.objects.create(
        scope="send",
        metric="bounce",
        send=send,
        rate=0.05,
        threshold=0.05,
        events=2,
        sample=40,
        reason="Deliverability guard: hard bounce rate 5.00% on send #3 crossed the limit.",
    )


def test_the_dashboard_renders_its_charts_in_chromium(live_server, page, screenshot, make_user):
    _history()
    user = make_user(Role.VIEWER, username="analyst")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/analytics/dashboard/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Analytics dashboard").wait_for()
    charts = page.locator("svg.chart")
    assert charts.count() == 6
    for index in range(6):
        box = charts.nth(index).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100, index
    screenshot("dashboard")
    assert page.locator("svg.chart polyline").count() >= 3  # lines drawn, not empty frames
    labels = " | ".join(page.locator("svg.chart text.label").all_text_contents())
    assert "Release 4.2" in labels and "https://example.com/release-notes" in labels, labels

    page.get_by_label("Channel", exact=True).select_option(label="Slack #news (Slack)")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**channel=*")
    assert page.locator(".dash-kpi .value").first.inner_text() == "3"
    screenshot("dashboard-slack-only")
