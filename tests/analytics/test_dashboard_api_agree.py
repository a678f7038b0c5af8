"""The dashboard and the API read one selector, so they show the same figures for a send."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from analytics.services.rollups import rollups_update
from channels_app.models import Delivery, Send
from core.roles import Role
from tests.factories import ChannelFactory, DeliveryFactory, PublicationFactory, TopicFactory

pytestmark = pytest.mark.django_db


def _kpis(html: str) -> dict[str, str]:
    pairs = re.findall(r'<span class="value">([^<]*)</span><span class="name">([^<]*)</span>', html)
    return {name: value for value, name in pairs}


def test_delivered_is_the_same_on_the_dashboard_and_in_the_api_for_a_send_without_receipts(
    client, client_for, make_user
):
    """Slack sends no delivery receipts: its deliveries stay `sent`. The dashboard counted them
    as delivered (3) while the publication API said 0; both now say 3."""
    topic = TopicFactory(slug="ops", name="Ops")
    publication = PublicationFactory(topics=[topic], published=True)
    send = Send.objects.create(key="agree", kind="alert", publication=publication)
    slack = ChannelFactory(name="Slack ops", kind="slack", audience="broadcast", config={"channel": "C1"})
    now = timezone.now()
    for member in range(3):  # direct messages to three members
        DeliveryFactory(send=send, channel=slack, recipient_key=member + 1, state=Delivery.State.SENT, sent_at=now)
    DeliveryFactory(send=send, channel=slack, recipient_key=9, state=Delivery.State.FAILED)
    rollups_update()

    client.force_login(make_user(Role.VIEWER))
    kpis = _kpis(client.get("/admin/analytics/dashboard/").content.decode())
    api = client_for(Role.VIEWER)
    engagement = api.get(f"/api/v1/publishing/publications/{publication.pk}").json()["engagement"]
    today = now.date().isoformat()
    report = api.get(
        f"/api/v1/publishing/analytics/engagement?start_date={today}&end_date={today}&metrics=sent,delivered,failed"
    ).json()

    assert kpis["Delivered"] == "3" == str(engagement["delivered"]) == str(report["totals"]["delivered"])
    assert kpis["Sent"] == "3" == str(engagement["sent"]) == str(report["totals"]["sent"])
    assert engagement["failed"] == report["totals"]["failed"] == 1
    assert engagement["handed_to_provider"] == 3
