"""channels/{id}/warmup: progress and today's cap for anyone who may read channels; plans are
set by admins, bad input answered with field errors and nothing written."""

import pytest

from channels_app.models import WarmupPlan
from core.roles import Role
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _url(channel) -> str:
    return f"/api/v1/publishing/channels/{channel.pk}/warmup"


def test_an_admin_puts_a_channel_in_warm_up_and_readers_see_today_s_cap(client_for, outbox_channel):
    response = client_for(Role.ADMIN).put(_url(outbox_channel), {"schedule": [50, 100, 200]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["cap_today"] == 50 and response.json()["days"] == 3

    viewer = client_for(Role.VIEWER)
    plans = viewer.get(_url(outbox_channel)).json()["plans"]
    assert [(p["cap_today"], p["remaining_today"], p["waiting"], p["day"]) for p in plans] == [(50, 50, 0, 1)]
    channel = viewer.get(f"/api/v1/publishing/channels/{outbox_channel.pk}").json()
    assert channel["warmup"][0]["cap_today"] == 50


def test_the_default_schedule_applies_when_none_is_given(client_for, outbox_channel):
    body = client_for(Role.ADMIN).put(_url(outbox_channel), {"from_domain": "Example.com"}, format="json").json()
    assert (body["from_domain"], body["days"], body["schedule"][0], body["schedule"][-1]) == (
        "example.com",
        30,
        50,
        3000,
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"schedule": []}, "schedule"),
        ({"schedule": [50, 0]}, "schedule"),
        ({"schedule": "50,100"}, "schedule"),
        ({"bounce_threshold": 2}, "bounce_threshold"),
        ({"complaint_threshold": -0.1}, "complaint_threshold"),
        ({"status": "warming"}, "status"),
        ({"schedule": [50, 100], "step": 5}, "step"),
        ({"from_domain": "not a domain"}, "from_domain"),
        ({"cap": 10}, "cap"),
    ],
)
def test_bad_warm_up_settings_are_field_errors_and_nothing_is_written(client_for, outbox_channel, payload, field):
    response = client_for(Role.ADMIN).put(_url(outbox_channel), payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"]
    assert not WarmupPlan.objects.exists()


def test_a_channel_without_a_from_address_cannot_warm_up(client_for):
    slack = ChannelFactory(kind="slack", config={"channel": "C1"}, credentials={"token": "xoxb-1"})
    response = client_for(Role.ADMIN).put(_url(slack), {}, format="json")
    assert response.status_code == 400 and "channel" in response.json()["extra"]["fields"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.PUBLISHER])
def test_only_admins_set_a_warm_up_plan(client_for, outbox_channel, role):
    assert client_for(role).put(_url(outbox_channel), {"schedule": [5]}, format="json").status_code == 403
    assert not WarmupPlan.objects.exists()


def test_an_unknown_channel_is_a_404(client_for):
    assert client_for(Role.VIEWER).get("/api/v1/publishing/channels/999999/warmup").status_code == 404
