"""GET analytics/engagement and analytics/performance."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from analytics.models import SendTopic
from channels_app.models import Delivery
from core.roles import Role
from tests.factories import ChannelFactory, DailyRollupFactory, DeliveryFactory, SendFactory, TopicFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/publishing/analytics"
D1 = date(2026, 11, 1)


@pytest.fixture
def data(db):
    email = ChannelFactory(name="SES", kind="email")
    slack = ChannelFactory(name="Slack news", kind="slack", audience="broadcast", config={"channel": "C1"})
    topic, other = TopicFactory(slug="security", name="Security"), TopicFactory(slug="product")
    send = SendFactory()
    SendTopic.objects.create(send=send, topic=topic)
    counts = {"sent": 1000, "delivered": 990, "unique_opens": 400, "opens": 700, "clicks": 120, "unique_clickers": 90}
    latency = {"5": 900, "30": 100}
    DailyRollupFactory(
        send=send, channel=email, day=D1, hard_bounces=10, complaints=1, latency_buckets=latency, **counts
    )
    DailyRollupFactory(send=send, channel=email, day=D1 + timedelta(days=2), sent=0, opens=50, unique_opens=30)
    DailyRollupFactory(send=send, channel=slack, day=D1, sent=1, delivered=1, clicks=4, unique_clickers=1)
    return {"email": email, "slack": slack, "topic": topic, "other": other, "send": send}


def test_engagement_returns_totals_and_a_series_of_every_day(client_for, data):
    response = client_for(Role.VIEWER).get(f"{URL}/engagement", {"start_date": "2026-11-01", "end_date": "2026-11-04"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["totals"]["sent"] == 1001 and body["totals"]["unique_opens"] == 430
    assert body["totals"]["bounces"] == 10 and body["totals"]["bounce_rate"] == pytest.approx(10 / 1001, abs=1e-6)
    assert [d["date"] for d in body["series"]] == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert body["series"][1]["sent"] == 0 and body["series"][1]["open_rate"] is None
    assert body["series"][2]["unique_opens"] == 30


def test_engagement_filters_by_channel_kind_or_id_topic_and_metrics(client_for, data):
    client = client_for(Role.VIEWER)
    params = {"start_date": "2026-11-01", "end_date": "2026-11-01", "metrics": "sent,clicks,click_rate"}
    by_kind = client.get(f"{URL}/engagement", {**params, "channels": "slack"}).json()
    assert by_kind["totals"] == {"sent": 1, "clicks": 4, "click_rate": 1.0}
    by_id = client.get(f"{URL}/engagement", {**params, "channels": str(data["email"].pk)}).json()
    assert by_id["totals"]["sent"] == 1000 and set(by_id["series"][0]) == {"date", "sent", "clicks", "click_rate"}
    assert client.get(f"{URL}/engagement", {**params, "topics": "security"}).json()["totals"]["sent"] == 1001
    assert client.get(f"{URL}/engagement", {**params, "topics": "product"}).json()["totals"]["sent"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start_date": "yesterday"}, "start_date"),
        ({"start_date": "2026-11-05", "end_date": "2026-11-01"}, "start_date"),
        ({"start_date": "2024-01-01", "end_date": "2026-11-01"}, "end_date"),
        ({"channels": "pigeon"}, "channels"),
        ({"channels": "999999"}, "channels"),
        ({"topics": "no-such-topic"}, "topics"),
        ({"metrics": "sent,happiness"}, "metrics"),
    ],
)
def test_bad_parameters_are_field_errors(client_for, data, params, field):
    response = client_for(Role.VIEWER).get(f"{URL}/engagement", params)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "Validation error" and field in body["extra"]["fields"]


def test_analytics_needs_an_authenticated_user(api_client, data):
    assert api_client.get(f"{URL}/engagement").status_code in (401, 403)
    assert api_client.get(f"{URL}/performance").status_code in (401, 403)


def test_performance_reports_success_latency_failures_and_recommendations(client_for, data, settings):
    settings.GUARD_MIN_SAMPLE = 100
    DailyRollupFactory(send=data["send"], channel=data["email"], day=D1 + timedelta(days=1), failed=10)
    DeliveryFactory(
        send=data["send"], channel=data["email"], state=Delivery.State.FAILED, last_error="SES: Bad content"
    )
    response = client_for(Role.VIEWER).get(f"{URL}/performance", {"start_date": "2026-11-01", "end_date": "2026-12-31"})
    assert response.status_code == 200, response.json()
    body = response.json()
    email = next(c for c in body["channels"] if c["kind"] == "email")
    assert email["success_rate"] == pytest.approx(1000 / 1010, abs=1e-6)
    assert email["latency_seconds"] == {"p50": 5.0, "p95": 30.0}
    assert body["topics"][0]["topic"] == "Security"
    messages = [r["message"] for r in body["recommendations"]]
    assert any("Complaint rate 0.10% is near the 0.10% limit on topic Security" in m for m in messages), messages
    assert any("SES" in m and "handed over" in m for m in messages), messages


def test_the_failure_reasons_list_the_most_common_errors(client_for, data):
    DeliveryFactory.create_batch(3, send=data["send"], channel=data["email"], state="dead", last_error="timeout")
    body = client_for(Role.VIEWER).get(f"{URL}/performance").json()
    assert body["failure_reasons"][0] == {"channel_id": data["email"].pk, "reason": "timeout", "count": 3}


def test_reports_cost_the_same_number_of_queries_whatever_the_volume(client_for, data, django_assert_max_num_queries):
    client = client_for(Role.VIEWER)
    with django_assert_max_num_queries(12):
        client.get(f"{URL}/engagement", {"start_date": "2026-01-01", "end_date": "2026-12-31"})
