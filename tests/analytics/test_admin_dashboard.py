"""The analytics dashboard and the read-only admin pages of the feedback loop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import GuardTrip, HygieneAction
from core.roles import Role
from tests.factories import ChannelFactory, DailyRollupFactory, PublicationFactory, SendFactory, TopicFactory

pytestmark = pytest.mark.django_db
URL = "/admin/analytics/dashboard/"


@pytest.fixture
def viewer(client, make_user):
    client.force_login(make_user(Role.VIEWER))
    return client


@pytest.fixture
def rollups(db):
    today = timezone.now().date()
    channel = ChannelFactory(name="SES main")
    publication = PublicationFactory(title="Release 4.2 is out")
    send = SendFactory(publication=publication)
    for days in range(5):
        DailyRollupFactory(
            send=send,
            channel=channel,
            publication=publication,
            day=today - timedelta(days=days),
            sent=1000,
            delivered=980,
            unique_opens=300,
            unique_clickers=40,
            clicks=55,
            hard_bounces=days * 5,
            complaints=1,
        )
    return channel


def test_the_dashboard_draws_every_chart_from_the_rollups(viewer, rollups):
    response = viewer.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('<svg class="chart"') == 6
    for title in (
        "Messages per day",
        "Unique opens and clickers per publication",
        "Hand-off success rate per channel",
        "Hard bounce rate per day",
        "Complaint rate per day",
        "Top links by human clicks",
    ):
        assert f"<title>{title}</title>" in html
    assert "Release 4.2 is out" in html and "SES main" in html
    assert "Guard limit 5%" in html  # the threshold line
    assert ">5,000<" in html  # sent in the range


def test_the_dashboard_filters_by_channel_topic_and_dates(viewer, rollups):
    other = ChannelFactory(name="Other")
    topic = TopicFactory(slug="quiet")
    html = viewer.get(URL, {"channel": other.pk, "topic": topic.pk}).content.decode()
    assert "No data in this range" in html
    day = (timezone.now().date() - timedelta(days=1)).isoformat()
    assert ">1,000<" in viewer.get(URL, {"start": day, "end": day}).content.decode()


def test_bad_dashboard_filters_fall_back_to_the_last_30_days_with_a_message(viewer, rollups):
    response = viewer.get(URL, {"start": "2026-12-31", "end": "2026-01-01"}, follow=True)
    assert response.status_code == 200
    assert "Showing the last 30 days" in response.content.decode()


def test_hygiene_actions_and_guard_trips_are_listed_with_their_reasons(viewer, rollups):
    HygieneAction.objects.create(email="gone@example.com", kind="hard_bounce", reason="SES Permanent/General bounce")
    send = SendFactory(status="paused")
    GuardTrip.objects.create(
        scope="send",
        metric="bounce",
        send=send,
        rate=0.07,
        threshold=0.05,
        events=7,
        sample=100,
        reason="Deliverability guard: hard bounce rate 7.00%",
    )
    assert "SES Permanent/General bounce" in viewer.get("/admin/analytics/hygieneaction/").content.decode()
    html = viewer.get("/admin/analytics/guardtrip/").content.decode()
    assert "7.00% (limit 5.00%)" in html and f"/admin/channels_app/send/{send.pk}/change/" in html


def test_people_without_a_role_cannot_see_the_dashboard(client, make_user):
    client.force_login(make_user(None))
    assert client.get(URL).status_code in (302, 403)
