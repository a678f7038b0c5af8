"""Scheduling in the editor's own time zone: the setting (default settings.TIME_ZONE, changed in
admin), the publish page reading and showing local time beside UTC and the audience's local
times, and clear form errors for local times a DST change skips or repeats."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import EditorProfile, Publication
from publishing.services.timezones import editor_time_zone, editor_time_zone_set, local_to_utc
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/publication"
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def publisher_in_paris(publisher):
    editor_time_zone_set(user=publisher, time_zone="Europe/Paris")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(publisher)
    return browser


def _post_publish(browser, publication, **data):
    page = browser.get(f"{ADMIN}/{publication.pk}/publish/")
    token = page.cookies.get("csrftoken") or browser.cookies["csrftoken"]
    form = {"csrfmiddlewaretoken": token.value, "confirmed_total": 0, "confirm": "on", **data}
    return browser.post(f"{ADMIN}/{publication.pk}/publish/", form)


def test_the_zone_defaults_to_the_site_zone_and_is_each_users_own(settings, editor, publisher):
    settings.TIME_ZONE = "America/Chicago"
    assert editor_time_zone(editor).key == "America/Chicago"
    editor_time_zone_set(user=editor, time_zone="Asia/Tokyo")
    assert (editor_time_zone(editor).key, editor_time_zone(publisher).key) == ("Asia/Tokyo", "America/Chicago")
    with pytest.raises(ApplicationError) as refused:
        editor_time_zone_set(user=editor, time_zone="Mars/Olympus")
    assert "Unknown time zone" in refused.value.extra["fields"]["time_zone"][0]
    assert EditorProfile.objects.get(user=editor).time_zone == "Asia/Tokyo"


def test_an_editor_changes_their_time_zone_in_admin_with_csrf(editor):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(editor)
    page = browser.get(f"{ADMIN}/time-zone/")
    assert page.status_code == 200 and "now <strong>UTC</strong>" in page.content.decode()
    assert browser.post(f"{ADMIN}/time-zone/", {"time_zone": "Europe/Paris"}).status_code == 403
    token = browser.cookies["csrftoken"].value
    bad = browser.post(f"{ADMIN}/time-zone/", {"csrfmiddlewaretoken": token, "time_zone": "Nowhere/Land"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert not EditorProfile.objects.exists()
    done = browser.post(
        f"{ADMIN}/time-zone/?next={ADMIN}/calendar/", {"csrfmiddlewaretoken": token, "time_zone": "Europe/Paris"}
    )
    assert done.status_code == 302 and done["Location"] == f"{ADMIN}/calendar/"
    assert editor_time_zone(editor).key == "Europe/Paris"
    offsite = browser.post(
        f"{ADMIN}/time-zone/?next=https://evil.example/", {"csrfmiddlewaretoken": token, "time_zone": "UTC"}
    )
    assert offsite["Location"] == "/admin/"


def test_a_publisher_schedules_in_their_local_time_and_sees_utc_and_the_audience_times(
    publisher_in_paris, draft, email_channel, topic
):
    for zone in ("America/New_York", "America/New_York", "Asia/Tokyo"):
        SubscriptionFactory(subscriber=SubscriberFactory(timezone=zone), topic=topic)
    page = publisher_in_paris.get(f"{ADMIN}/{draft.pk}/publish/").content.decode()
    assert "Publish at (Europe/Paris)" in page
    assert 'America/New_York (UTC-05:00)</td><td class="audience-count">2</td>' in page
    response = _post_publish(publisher_in_paris, draft, publish_at="2027-01-15T09:30", confirmed_total=3)
    assert response.status_code == 302, response.content.decode()[:3000]
    draft.refresh_from_db()
    assert draft.state == "scheduled" and draft.publish_at == datetime(2027, 1, 15, 8, 30, tzinfo=UTC)
    again = publisher_in_paris.get(f"{ADMIN}/{draft.pk}/publish/").content.decode()
    assert 'value="2027-01-15T09:30"' in again  # shown in the editor's zone, not UTC
    assert "Fri 2027-01-15 09:30 Europe/Paris</strong> = 2027-01-15 08:30 UTC" in again
    assert "Fri 2027-01-15 03:30" in again and "Fri 2027-01-15 17:30" in again  # New York, Tokyo
    listing = publisher_in_paris.get(f"{ADMIN}/").content.decode()
    assert "Jan. 15, 2027, 9:30 a.m." in listing  # the changelist in the editor's zone too


def test_show_the_times_previews_without_publishing(publisher_in_paris, draft, email_channel):
    response = _post_publish(publisher_in_paris, draft, publish_at="2027-07-01T12:00", check_times="1", confirm="")
    page = response.content.decode()
    assert response.status_code == 200 and "Thu 2027-07-01 12:00 Europe/Paris</strong> = 2027-07-01 10:00 UTC" in page
    assert "This field is required" not in page
    draft.refresh_from_db()
    assert draft.state == "draft"


@pytest.mark.parametrize(
    ("local", "message"),
    [
        ("2027-03-28T02:30", "2027-03-28 02:30 does not exist in Europe/Paris: the clocks jump forward then."),
        ("2027-10-31T02:30", "2027-10-31 02:30 happens twice in Europe/Paris (the clocks go back): it could be"),
    ],
)
def test_a_local_time_that_dst_skips_or_repeats_is_a_form_error(
    publisher_in_paris, draft, email_channel, local, message
):
    response = _post_publish(publisher_in_paris, draft, publish_at=local)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert 'id="publish-times"' not in response.content.decode()  # no times shown for a time that is not one
    draft.refresh_from_db()
    assert (draft.state, draft.publish_at) == ("draft", None)
    # "Show the times" answers the same error, not a 500.
    check = _post_publish(publisher_in_paris, draft, publish_at=local, check_times="1")
    assert check.status_code == 200 and message in check.content.decode()


def test_local_to_utc_around_both_dst_changes():
    assert local_to_utc(datetime(2027, 3, 28, 3, 0), PARIS) == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert local_to_utc(datetime(2027, 3, 28, 1, 59), PARIS) == datetime(2027, 3, 28, 0, 59, tzinfo=UTC)
    assert local_to_utc(datetime(2027, 10, 31, 3, 0), PARIS) == datetime(2027, 10, 31, 2, 0, tzinfo=UTC)
    with pytest.raises(ApplicationError, match="happens twice") as twice:
        local_to_utc(datetime(2027, 10, 31, 2, 0), PARIS)
    assert "00:00 UTC or 01:00 UTC" in twice.value.extra["fields"]["publish_at"][0]
    with pytest.raises(ApplicationError, match="does not exist"):
        local_to_utc(datetime(2027, 3, 28, 2, 0), PARIS)
    aware = datetime(2027, 3, 28, 2, 0, tzinfo=UTC)
    assert local_to_utc(aware, PARIS) is aware


def test_a_garbled_time_is_a_form_error(publisher_in_paris, draft, email_channel):
    response = _post_publish(publisher_in_paris, draft, publish_at="next tuesday")
    assert response.status_code == 200 and "Enter a valid date/time." in response.content.decode()


def test_the_api_keeps_utc_whatever_the_editors_zone(client_for, draft, email_channel):
    api = client_for(Role.PUBLISHER)
    editor_time_zone_set(user=api.user, time_zone="Asia/Tokyo")
    response = api.post(
        f"/api/v1/publishing/publications/{draft.pk}/publish", {"publish_at": "2027-01-15T09:30:00"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert Publication.objects.get(pk=draft.pk).publish_at == datetime(2027, 1, 15, 9, 30, tzinfo=UTC)


def test_the_scheduled_time_shows_in_the_editors_zone_and_utc_on_the_publication(publisher_in_paris, topic):
    scheduled = PublicationFactory(
        state="scheduled", publish_at=datetime(2027, 1, 15, 8, 30, tzinfo=UTC), topics=[topic]
    )
    page = publisher_in_paris.get(f"{ADMIN}/{scheduled.pk}/change/").content.decode()
    assert "Goes out at 2027-01-15 09:30 CET (2027-01-15 08:30 UTC)" in page
