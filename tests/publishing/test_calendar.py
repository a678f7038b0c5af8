"""The calendar of scheduled sends: a month view by local day in the editor's time zone, linked
from the publication list."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.exceptions import ApplicationError
from publishing.services.calendar import parse_month, publication_calendar
from publishing.services.timezones import editor_time_zone_set
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/publication"


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


def _day(page: str, day: str) -> str:
    match = re.search(rf'data-day="{day}">(.*?)</td>', page, re.S)
    assert match, day
    return match.group(1)


@pytest.fixture
def month_of_sends(topic):
    return {
        "morning": PublicationFactory(
            title="Morning brief", state="scheduled", publish_at=datetime(2027, 1, 15, 8, 30, tzinfo=UTC)
        ),
        "late": PublicationFactory(
            title="Late edition", state="scheduled", publish_at=datetime(2027, 1, 31, 23, 30, tzinfo=UTC)
        ),
        "sent": PublicationFactory(
            title="Already out",
            state="published",
            published_at=datetime(2027, 1, 3, 10, 0, tzinfo=UTC),
            publish_at=datetime(2027, 1, 3, 10, 0, tzinfo=UTC),
        ),
        "draft": PublicationFactory(title="Just a draft", publish_at=datetime(2027, 1, 20, 10, 0, tzinfo=UTC)),
        "next_month": PublicationFactory(
            title="February thing", state="scheduled", publish_at=datetime(2027, 2, 20, 10, 0, tzinfo=UTC)
        ),
    }


def test_the_calendar_lists_scheduled_and_published_sends_by_local_day(editor_client, editor, month_of_sends):
    page = editor_client.get(f"{ADMIN}/calendar/?month=2027-01").content.decode()
    assert "Scheduled sends: January 2027" in page
    assert "08:30" in _day(page, "2027-01-15") and "<strong>Morning brief</strong>" in _day(page, "2027-01-15")
    assert "Late edition" in _day(page, "2027-01-31")
    assert "10:00" in _day(page, "2027-01-03") and "Already out" in _day(page, "2027-01-03")
    assert "Just a draft" not in page and "February thing" not in page
    assert f'href="{ADMIN}/{month_of_sends["morning"].pk}/change/"' in page
    assert 'href="?month=2026-12"' in page and 'href="?month=2027-02"' in page
    # In Paris the late edition is on 1 February, past this month's grid (which ends Sunday 31 January).
    editor_time_zone_set(user=editor, time_zone="Europe/Paris")
    paris = editor_client.get(f"{ADMIN}/calendar/?month=2027-01").content.decode()
    assert "09:30" in _day(paris, "2027-01-15") and "Late edition" not in paris
    february = editor_client.get(f"{ADMIN}/calendar/?month=2027-02").content.decode()
    assert "00:30" in _day(february, "2027-02-01") and "Late edition" in _day(february, "2027-02-01")
    assert "February thing" in _day(february, "2027-02-20")


def test_the_calendar_service_builds_whole_weeks():
    weeks = publication_calendar(month=date(2027, 2, 1), zone=ZoneInfo("UTC"))
    assert [len(w) for w in weeks] == [7, 7, 7, 7] and weeks[0][0].day == date(2027, 2, 1)
    assert all(d.in_month for w in weeks for d in w)
    assert parse_month("2027-02", today=date(2026, 1, 5)) == date(2027, 2, 1)
    assert parse_month(None, today=date(2026, 1, 5)) == date(2026, 1, 1)
    for bad in ("2027-13", "soon", "2027", "2027-02-01"):
        with pytest.raises(ApplicationError):
            parse_month(bad, today=date(2026, 1, 5))


def test_a_bad_month_is_a_clear_error_not_a_500(editor_client):
    response = editor_client.get(f"{ADMIN}/calendar/?month=2027-13")
    assert response.status_code == 400 and "is not a month: use YYYY-MM." in response.content.decode()


def test_the_publication_list_links_to_the_calendar(editor_client):
    page = editor_client.get(f"{ADMIN}/").content.decode()
    assert f'href="{ADMIN}/calendar/"' in page and "Calendar of scheduled sends" in page


def test_the_calendar_needs_a_signed_in_staff_user(client):
    response = client.get(f"{ADMIN}/calendar/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_both_sends_in_the_repeated_dst_hour_land_on_the_right_local_day(editor_client, editor):
    # 31 October 2027 in Paris has 25 hours: 02:30 happens at 00:30 and at 01:30 UTC.
    for hour in (0, 1):
        PublicationFactory(
            title=f"Repeated hour {hour}", state="scheduled", publish_at=datetime(2027, 10, 31, hour, 30, tzinfo=UTC)
        )
    PublicationFactory(title="Day before", state="scheduled", publish_at=datetime(2027, 10, 30, 21, 59, tzinfo=UTC))
    editor_time_zone_set(user=editor, time_zone="Europe/Paris")
    page = editor_client.get(f"{ADMIN}/calendar/?month=2027-10").content.decode()
    day = _day(page, "2027-10-31")
    order = [day.index(text) for text in ("02:30 CEST", "Repeated hour 0", "02:30 CET", "Repeated hour 1")]
    assert order == sorted(order)
    assert "23:59" in _day(page, "2027-10-30") and "Day before" in _day(page, "2027-10-30")
