"""Per mailbox provider (issue 18 item 3): the guard holds one provider's stream of a send
instead of pausing it all, and the analytics API and dashboard show each provider's rates."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from analytics.models import GuardTrip
from analytics.services.guard import guard_sends_check
from channels_app.models import Delivery, ProviderHold, Send
from channels_app.services import mailbox_providers
from channels_app.services.pipeline import delivery_batch_send
from core.roles import Role
from tests.channels_app.conftest import EMAIL_CONTENT
from tests.factories import EngagementEventFactory, SendFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_memo(dns_server, settings):
    mailbox_providers._memo.clear()
    settings.GUARD_MIN_SAMPLE = 200
    settings.GUARD_PROVIDER_MIN_SAMPLE = 50
    dns_server.add("corp.test", "MX", "1 aspmx.l.google.com.")
    yield
    mailbox_providers._memo.clear()


_numbers = itertools.count()


def _sent(make_sent, send, domain: str, count: int) -> list[Delivery]:
    out = []
    for _ in range(count):
        subscriber = SubscriberFactory(email=f"r{next(_numbers)}@{domain}")
        out += make_sent(1, send=send, subscriber=subscriber, recipient=subscriber.email)
    return out


def test_one_providers_bounce_rate_holds_only_its_stream_of_the_send(make_sent, email_channel):
    send = SendFactory(status=Send.Status.SENDING, audience_ready=True, content=EMAIL_CONTENT)
    gmail = _sent(make_sent, send, "gmail.com", 40) + _sent(make_sent, send, "corp.test", 20)  # corp: Gmail by MX
    outlook = _sent(make_sent, send, "outlook.com", 240)
    for delivery in gmail[:6]:  # 6 of 60 to Gmail (10%), 2% of the whole send: under the send's 5%
        EngagementEventFactory(delivery=delivery, kind="bounce", metadata={"bounce_type": "hard"})

    [trip] = guard_sends_check(send_ids=[send.pk])

    send.refresh_from_db()
    assert send.status == Send.Status.SENDING, "the send goes on"
    assert (trip.scope, trip.mailbox_provider, trip.events, trip.sample) == ("provider", "gmail", 6, 60)
    assert "to Gmail / Google Workspace" in trip.reason
    assert ProviderHold.objects.get(send=send, released_at=None).provider == "gmail"
    assert guard_sends_check(send_ids=[send.pk]) == [], "a provider trips once per metric"

    # what is still queued of this send: Gmail's wait, Outlook's go
    queued = [
        *_sent(make_sent, send, "gmail.com", 1),
        *_sent(make_sent, send, "outlook.com", 1),
    ]
    Delivery.objects.filter(pk__in=[d.pk for d in queued]).update(state="queued", sent_at=None, provider_message_id="")
    delivery_batch_send(channel_id=email_channel.pk, delivery_ids=[d.pk for d in queued])
    assert dict(Delivery.objects.filter(pk__in=[d.pk for d in queued]).values_list("recipient", "state")) == {
        queued[0].recipient: "queued",
        queued[1].recipient: "sent",
    }
    assert len(outlook) == 240


def test_a_send_crossing_overall_is_paused_whole_not_held_per_provider(make_sent):
    send = SendFactory(status=Send.Status.SENDING, content=EMAIL_CONTENT)
    gmail = _sent(make_sent, send, "gmail.com", 200)
    for delivery in gmail[:20]:
        EngagementEventFactory(delivery=delivery, kind="bounce", metadata={"bounce_type": "hard"})

    [trip] = guard_sends_check(send_ids=[send.pk])

    assert trip.scope == GuardTrip.Scope.SEND
    assert not ProviderHold.objects.exists()


def _engagement(make_sent):
    send = SendFactory(status=Send.Status.SENDING, content=EMAIL_CONTENT)
    gmail = _sent(make_sent, send, "gmail.com", 4) + _sent(make_sent, send, "corp.test", 6)
    yahoo = _sent(make_sent, send, "yahoo.com", 5)
    for delivery in gmail[:8] + yahoo[:5]:
        EngagementEventFactory(delivery=delivery, kind="delivered")
    EngagementEventFactory(delivery=gmail[0], kind="open")
    EngagementEventFactory(delivery=gmail[0], kind="open")  # the same reader twice: one opener
    EngagementEventFactory(delivery=gmail[1], kind="open", is_machine=True)  # a proxy prefetch: not a reader
    EngagementEventFactory(delivery=gmail[2], kind="click")
    EngagementEventFactory(delivery=yahoo[0], kind="complaint")
    EngagementEventFactory(delivery=yahoo[1], kind="bounce", metadata={"bounce_type": "hard"})


def test_the_analytics_api_gives_each_providers_rates(make_sent, client_for):
    _engagement(make_sent)
    today = timezone.now().date()

    response = client_for(Role.VIEWER).get(
        "/api/v1/publishing/analytics/providers", {"start_date": today - timedelta(days=1), "end_date": today}
    )

    assert response.status_code == 200
    rows = {r["provider"]: r for r in response.json()["providers"]}
    assert list(rows) == ["gmail", "outlook", "yahoo", "apple", "other"]
    gmail, yahoo = rows["gmail"], rows["yahoo"]
    assert (gmail["sent"], gmail["delivered"], gmail["opened"], gmail["clicked"]) == (10, 8, 1, 1)
    assert (gmail["delivery_rate"], gmail["open_rate"], gmail["click_rate"]) == (0.8, 0.1, 0.1)
    assert (yahoo["sent"], yahoo["bounce_rate"], yahoo["complaint_rate"]) == (5, 0.2, 0.2)
    assert rows["outlook"]["sent"] == 0 and rows["outlook"]["delivery_rate"] is None


def test_the_providers_api_refuses_bad_dates_and_anonymous_callers(client_for, api_client):
    bad = client_for(Role.VIEWER).get("/api/v1/publishing/analytics/providers", {"start_date": "yesterday"})
    assert bad.status_code == 400 and "start_date" in bad.json()["extra"]["fields"]
    assert api_client.get("/api/v1/publishing/analytics/providers").status_code in (401, 403)


def test_the_dashboard_shows_each_providers_rates(make_sent, admin_client):
    _engagement(make_sent)

    page = admin_client.get("/admin/analytics/dashboard/").content.decode()

    assert "Mailbox providers" in page
    assert "Gmail / Google Workspace" in page and "80.0%" in page
