"""Quiet hours and send-time settings through the API (publications, topics) and admin forms:
stored when valid, field errors and nothing written when not; the lift in the publication's stats."""

import pytest

from core.roles import Role
from publishing.models import Publication, SendTimeAssignment
from subscribers.models import Topic
from tests.factories import DeliveryFactory, EngagementEventFactory, SendFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/publishing/publications"


def test_an_editor_sets_quiet_hours_and_send_time_optimization(client_for, topic):
    payload = {"title": "Weekly", "topics": ["news"], "quiet_hours_start": "21:00", "quiet_hours_end": "08:00"}
    payload |= {"send_time_optimized": True, "send_time_holdout_percent": 20}
    response = client_for(Role.EDITOR).post(BASE, payload, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["quiet_hours_start"], body["quiet_hours_end"]) == ("21:00:00", "08:00:00")
    assert (body["send_time_optimized"], body["send_time_holdout_percent"], body["send_time"]) == (True, 20, None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"quiet_hours_start": "21:00"}, "quiet_hours_end"),
        ({"quiet_hours_end": "08:00"}, "quiet_hours_start"),
        ({"quiet_hours_start": "21:00", "quiet_hours_end": "21:00"}, "quiet_hours_end"),
        ({"quiet_hours_start": "25:00", "quiet_hours_end": "08:00"}, "quiet_hours_start"),
        ({"send_time_holdout_percent": 80}, "send_time_holdout_percent"),
        ({"send_time_holdout_percent": "lots"}, "send_time_holdout_percent"),
        ({"send_time_optimized": True, "priority": "alert"}, "send_time_optimized"),
    ],
)
def test_bad_timing_settings_are_field_errors_and_create_nothing(client_for, topic, payload, field):
    response = client_for(Role.EDITOR).post(BASE, {"title": "x", **payload}, format="json")
    assert response.status_code == 400
    assert field in response.json()["extra"]["fields"], response.json()
    assert not Publication.objects.exists()


def test_an_update_is_checked_against_the_stored_values(client_for, draft):
    draft.priority = Publication.Priority.ALERT
    draft.save(update_fields=["priority"])
    response = client_for(Role.EDITOR).patch(f"{BASE}/{draft.pk}", {"send_time_optimized": True}, format="json")
    assert response.status_code == 400 and "send_time_optimized" in response.json()["extra"]["fields"]
    draft.refresh_from_db()
    assert draft.send_time_optimized is False


def test_the_publication_stats_report_the_send_time_lift(client_for, draft, email_channel):
    draft.send_time_optimized = True
    draft.save(update_fields=["send_time_optimized"])
    send = SendFactory(publication=draft, status="completed")
    for group, opened in (("optimized", [True, True, False, False]), ("holdout", [True, False, False, False])):
        for did_open in opened:
            delivery = DeliveryFactory(send=send, channel=email_channel, state="sent")
            SendTimeAssignment.objects.create(delivery=delivery, send=send, group=group, scheduled_for=send.created_at)
            if did_open:
                EngagementEventFactory(delivery=delivery, kind="open")
    stats = client_for(Role.VIEWER).get(f"{BASE}/{draft.pk}").json()["send_time"]
    assert (stats["optimized"]["open_rate"], stats["holdout"]["open_rate"], stats["open_lift"]) == (0.5, 0.25, 1.0)


def test_topics_take_quiet_hours_with_validation(client_for, topic):
    editor = client_for(Role.EDITOR)
    url = f"/api/v1/publishing/topics/{topic.slug}"
    bad = editor.patch(url, {"quiet_hours_start": "22:00"}, format="json")
    assert bad.status_code == 400 and "quiet_hours_end" in bad.json()["extra"]["fields"]
    good = editor.patch(url, {"quiet_hours_start": "22:00", "quiet_hours_end": "07:30"}, format="json")
    assert good.status_code == 200, good.json()
    assert str(Topic.objects.get(pk=topic.pk).quiet_hours_end) == "07:30:00"
    same = editor.patch(url, {"quiet_hours_end": "22:00"}, format="json")  # against the stored start
    assert same.status_code == 400 and "quiet_hours_end" in same.json()["extra"]["fields"]


@pytest.fixture
def admin_client_(client, make_user):
    client.force_login(make_user(Role.ADMIN, is_staff=True))
    return client


def test_admin_forms_refuse_half_quiet_hours_on_a_topic(admin_client_, topic):
    form = {"slug": topic.slug, "name": topic.name, "description": "", "is_public": "on", "tracking_enabled": "on"}
    response = admin_client_.post(f"/admin/subscribers/topic/{topic.pk}/change/", form | {"quiet_hours_start": "21:00"})
    assert response.status_code == 200 and "Quiet hours need a start and an end" in response.content.decode()
    ok = admin_client_.post(
        f"/admin/subscribers/topic/{topic.pk}/change/", form | {"quiet_hours_start": "21:00", "quiet_hours_end": "8:00"}
    )
    assert ok.status_code == 302
    assert str(Topic.objects.get(pk=topic.pk).quiet_hours_start) == "21:00:00"


def test_the_publication_form_saves_timing_settings_through_the_service(admin_client_, draft, topic):
    form = {"title": draft.title, "slug": draft.slug, "summary": draft.summary, "body": draft.body, "canonical_url": ""}
    form |= {"topics": [topic.pk], "priority": "normal", "ab_metric": "opens", "ab_test_fraction": "0.2"}
    form |= {"ab_wait_minutes": "60", "quality_score": ""}
    url = f"/admin/publishing/publication/{draft.pk}/change/"
    bad = admin_client_.post(url, form | {"send_time_optimized": "on", "send_time_holdout_percent": "90"})
    assert bad.status_code == 200 and "A whole percentage from 0 to 50" in bad.content.decode()
    good = admin_client_.post(url, form | {"quiet_hours_start": "21:00", "quiet_hours_end": "08:00"})
    assert good.status_code == 302, good.content.decode()[:2000]
    draft.refresh_from_db()
    assert (str(draft.quiet_hours_start), draft.send_time_holdout_percent) == ("21:00:00", 10)


@pytest.mark.parametrize("value", ["06:02:28.60Z", "21:00+05:00", "21:00:00-01:00", "21h00", "24:00"])
def test_local_times_with_an_offset_or_another_shape_are_refused_everywhere(client_for, topic, value):
    """Quiet hours and "wait until" are read on each subscriber's clock: an offset would be
    silently dropped (DRF's TimeField did), so it is a field error, on every endpoint."""
    editor, publisher = client_for(Role.EDITOR), client_for(Role.PUBLISHER)
    times = {"quiet_hours_start": value, "quiet_hours_end": "08:00"}
    publication = editor.post(BASE, {"title": "Weekly", "topics": ["news"], **times}, format="json")
    assert publication.status_code == 400 and "quiet_hours_start" in publication.json()["extra"]["fields"]
    topic_change = editor.patch(f"/api/v1/publishing/topics/{topic.slug}/", times, format="json")
    assert topic_change.status_code == 400 and "quiet_hours_start" in topic_change.json()["extra"]["fields"]
    automation = publisher.post(
        "/api/v1/publishing/automations/", {"name": "A", "trigger": "manual", **times}, format="json"
    )
    assert automation.status_code == 400 and "quiet_hours_start" in automation.json()["extra"]["fields"]
    assert not Publication.objects.exists()


def test_the_schema_describes_local_times_as_hh_mm_and_what_we_return_conforms(client_for, topic):
    import re

    schema = client_for(Role.VIEWER).get("/api/schema/?format=json").json()
    assert '"format": "time"' not in str(schema).replace("'", '"')
    prop = schema["components"]["schemas"]["Topic"]["properties"]["quiet_hours_start"]
    pattern = next(p["pattern"] for p in prop.get("anyOf", [prop]) if "pattern" in p)
    editor = client_for(Role.EDITOR)
    body = editor.patch(
        f"/api/v1/publishing/topics/{topic.slug}/",
        {"quiet_hours_start": "21:30:15.5", "quiet_hours_end": "08:00"},
        format="json",
    ).json()
    for returned in (body["quiet_hours_start"], body["quiet_hours_end"]):
        assert re.fullmatch(pattern, returned), returned
    assert (
        editor.patch(f"/api/v1/publishing/topics/{topic.slug}/", {"quiet_hours_start": "9:00"}, format="json").json()[
            "quiet_hours_start"
        ]
        == "09:00:00"
    )
