"""The pre-send checks as a gate: publishing while a check fails is a clear 400 / form error and
writes nothing; a publisher overrides with a reason that is recorded (who, when, why) and shown;
the checks in admin's publish page and GET /publications/{id}/checks by role."""

import pytest
import yaml

from channels_app.models import Send
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication, PublicationChecksOverride
from publishing.services.checks import publication_checks, publication_checks_run
from publishing.services.checks.gate import publication_checks_gate
from publishing.services.publish import publication_publish
from tests.factories import PublicationFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/publishing/publications"
ADMIN = "/admin/publishing/publication"
REASON = "The partner fixes that page within the hour."


@pytest.fixture(autouse=True)
def _gate_on(settings):
    settings.PRESEND_CHECKS_GATE = True


@pytest.fixture
def broken(httpserver, topic, editor):
    """A publication whose only outside link answers 404: the link check fails."""
    httpserver.expect_request("/gone").respond_with_data("nope", status=404)
    return PublicationFactory(
        title="Library opening hours",
        body=f"The library has [new hours]({httpserver.url_for('/gone')}). " * 10,
        topics=[topic],
        author=editor,
    )


@pytest.fixture
def sound(httpserver, topic, editor):
    httpserver.expect_request("/fine").respond_with_data("ok")
    return PublicationFactory(
        title="Library opening hours",
        body=f"The library has [new hours]({httpserver.url_for('/fine')}). " * 10,
        topics=[topic],
        author=editor,
    )


def test_the_report_lists_every_check_with_status_message_and_details(broken):
    report = publication_checks_run(publication=broken)
    names = [r.name for r in report.results]
    assert names == [
        "spam_score",
        "links",
        "size",
        "image_alt",
        "image_ratio",
        "unsubscribe",
        "postal_address",
        "sender_domains",
        "subject",
        "merge_fields",
    ]
    assert report.status == "fail" and [r.name for r in report.failed] == ["links"]
    assert all(r.status in ("pass", "warn", "fail", "unavailable") and r.message for r in report.results)


def test_publishing_while_a_check_fails_is_refused_and_writes_nothing(broken, publisher, email_channel):
    with pytest.raises(ApplicationError) as refused:
        publication_publish(publication=broken, actor=publisher)
    assert refused.value.status_code == 400
    assert refused.value.message == "Pre-send checks failed (Links): fix them, or override with a reason."
    assert "checks_override_reason" in refused.value.extra["fields"]
    assert [c["name"] for c in refused.value.extra["checks"]] == ["links"]
    broken.refresh_from_db()
    assert broken.state == "draft" and not Send.objects.exists() and not PublicationChecksOverride.objects.exists()


def test_a_publisher_overrides_with_a_reason_that_is_recorded(
    broken, publisher, email_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        published = publication_publish(publication=broken, actor=publisher, checks_override_reason=f"  {REASON} ")
    assert published.state == "published" and Send.objects.filter(publication=broken).exists()
    override = PublicationChecksOverride.objects.get()
    assert (override.publication, override.actor, override.reason) == (broken, publisher, REASON)
    assert [c["name"] for c in override.failed_checks] == ["links"] and override.created_at is not None
    assert broken.transitions.first().note == f"pre-send checks overridden: {REASON}"


def test_a_sound_publication_publishes_without_a_reason_and_records_no_override(sound, publisher, email_channel):
    assert publication_publish(publication=sound, actor=publisher).state == "published"
    assert not PublicationChecksOverride.objects.exists()


def test_scheduling_goes_through_the_same_gate(broken, publisher):
    from datetime import timedelta

    from django.utils import timezone

    when = timezone.now() + timedelta(hours=2)
    with pytest.raises(ApplicationError):
        publication_publish(publication=broken, actor=publisher, publish_at=when)
    scheduled = publication_publish(publication=broken, actor=publisher, publish_at=when, checks_override_reason=REASON)
    assert scheduled.state == "scheduled" and PublicationChecksOverride.objects.count() == 1


def test_a_reason_too_short_is_a_field_error(broken, publisher):
    with pytest.raises(ApplicationError) as refused:
        publication_publish(publication=broken, actor=publisher, checks_override_reason="ok")
    assert refused.value.extra["fields"]["checks_override_reason"] == ["Say why, in 10 to 1000 characters."]
    broken.refresh_from_db()
    assert broken.state == "draft"


def test_only_publishers_override_and_only_editors_run_checks(broken, editor, make_user):
    report = publication_checks_run(publication=broken)
    with pytest.raises(ApplicationError) as refused:
        publication_checks_gate(publication=broken, actor=editor, report=report, reason=REASON)
    assert refused.value.status_code == 403 and "needs the publisher role" in refused.value.message
    with pytest.raises(ApplicationError) as viewer:
        publication_checks(publication=broken, actor=make_user(Role.VIEWER))
    assert viewer.value.status_code == 403


def test_with_the_gate_off_publishing_runs_no_checks(broken, publisher, email_channel, settings):
    settings.PRESEND_CHECKS_GATE = False
    assert publication_publish(publication=broken, actor=publisher).state == "published"


# --- API ----------------------------------------------------------------------------------


def test_the_checks_endpoint_answers_editors_and_refuses_viewers(broken, client_for):
    assert client_for(Role.VIEWER).get(f"{BASE}/{broken.pk}/checks").status_code == 403
    response = client_for(Role.EDITOR).get(f"{BASE}/{broken.pk}/checks")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fail" and body["blocking"] == ["links"] and body["overrides"] == []
    links = next(c for c in body["checks"] if c["name"] == "links")
    assert links["status"] == "fail" and links["details"]["links"][0]["status"] == 404
    assert client_for(Role.EDITOR).get(f"{BASE}/999999/checks").status_code == 404


def test_api_publish_without_a_reason_is_a_400_and_with_one_is_recorded(broken, client_for, email_channel):
    publisher = client_for(Role.PUBLISHER)
    refused = publisher.post(f"{BASE}/{broken.pk}/publish", {}, format="json")
    assert refused.status_code == 400
    assert refused.json()["message"].startswith("Pre-send checks failed (Links)")
    assert "checks_override_reason" in refused.json()["extra"]["fields"]
    broken.refresh_from_db()
    assert broken.state == "draft"
    done = publisher.post(f"{BASE}/{broken.pk}/publish", {"checks_override_reason": REASON}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "published"
    overrides = client_for(Role.EDITOR).get(f"{BASE}/{broken.pk}/checks").json()["overrides"]
    assert overrides[0]["actor"] == publisher.user.username and overrides[0]["reason"] == REASON
    assert overrides[0]["failed_checks"][0]["name"] == "links"


def test_the_checks_endpoint_is_in_the_openapi_schema(client):
    document = yaml.safe_load(client.get("/api/schema/").content)
    operation = document["paths"]["/api/v1/publishing/publications/{id}/checks/"]["get"]
    assert {"200", "403", "404"} <= set(operation["responses"])
    publish = document["paths"]["/api/v1/publishing/publications/{id}/publish/"]["post"]
    schema_ref = publish["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "checks_override_reason" in document["components"]["schemas"][schema_ref]["properties"]


# --- admin --------------------------------------------------------------------------------


def test_the_publish_page_shows_the_checks_and_needs_a_reason_to_override(
    client, publisher, broken, email_channel, django_capture_on_commit_callbacks
):
    client.force_login(publisher)
    page = client.get(f"{ADMIN}/{broken.pk}/publish/").content.decode()
    assert 'id="presend-checks"' in page and 'data-check="spam_score"' in page
    assert '<tr class="check check-fail" data-check="links">' in page and "answer an error" in page
    assert 'name="checks_override_reason"' in page
    refused = client.post(f"{ADMIN}/{broken.pk}/publish/", {"confirmed_total": 0, "confirm": "on"})
    text = refused.content.decode()
    assert refused.status_code == 200 and "Pre-send checks failed (Links)" in text
    assert "Required to publish while these checks fail: Links." in text
    broken.refresh_from_db()
    assert broken.state == "draft"
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            f"{ADMIN}/{broken.pk}/publish/", {"confirmed_total": 0, "confirm": "on", "checks_override_reason": REASON}
        )
    assert done.status_code == 302
    broken.refresh_from_db()
    assert broken.state == Publication.State.PUBLISHED
    change = client.get(f"{ADMIN}/{broken.pk}/change/").content.decode()
    assert f"by {publisher.username}: “{REASON}” (failing: links)" in change


def test_a_viewer_on_the_publish_page_is_told_the_checks_need_the_editor_role(client, make_user, broken):
    viewer = make_user(Role.VIEWER, is_staff=True)
    client.force_login(viewer)
    page = client.get(f"{ADMIN}/{broken.pk}/publish/")
    assert page.status_code == 200
    assert "Running pre-send checks needs the editor role." in page.content.decode()
