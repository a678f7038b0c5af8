"""Warm-up plans in admin: created and edited through the service, the schedule as text, bad
input as form errors, today's cap and the days' outcomes on the page."""

import pytest

from channels_app.models import WarmupPlan
from core.roles import Role

pytestmark = pytest.mark.django_db
ADMIN = "/admin/channels_app/warmupplan"


@pytest.fixture
def admin_client_(client, make_user):
    client.force_login(make_user(Role.ADMIN, is_staff=True))
    return client


def _form(channel, **overrides):
    form = {"channel": channel.pk, "from_domain": "", "status": "active", "schedule": "50, 100, 200", "step": "0"}
    return form | {"bounce_threshold": "0.05", "complaint_threshold": "0.001"} | overrides


def test_an_admin_creates_a_plan_and_sees_today_s_cap(admin_client_, outbox_channel):
    add = admin_client_.get(f"{ADMIN}/add/")
    assert add.status_code == 200 and "3000" in add.content.decode()  # the default schedule is offered
    response = admin_client_.post(f"{ADMIN}/add/", _form(outbox_channel))
    assert response.status_code == 302, response.content.decode()[:2000]
    plan = WarmupPlan.objects.get()
    assert plan.schedule == [50, 100, 200]
    page = admin_client_.get(f"{ADMIN}/{plan.pk}/change/").content.decode()
    assert "Day 1 of 3; today's cap 50, let out 0, 0 waiting." in page
    assert "50" in admin_client_.get(f"{ADMIN}/").content.decode()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schedule": "50, lots"}, "Whole numbers separated by commas"),
        ({"schedule": "50, 0"}, "Every daily cap is a whole number"),
        ({"bounce_threshold": "3"}, "A rate from 0 to 1"),
        ({"schedule": "50", "step": "4"}, "An index into the schedule"),
    ],
)
def test_bad_settings_are_form_errors_and_nothing_is_saved(admin_client_, outbox_channel, overrides, message):
    response = admin_client_.post(f"{ADMIN}/add/", _form(outbox_channel, **overrides))
    assert response.status_code == 200 and message in response.content.decode()
    assert not WarmupPlan.objects.exists()
