"""Admin: streamed and escaped CSV exports, suppression add/remove with a reason, CSV upload."""

import csv
import io
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse

from core.exceptions import ApplicationError
from core.roles import Role
from subscribers.models import ConsentRecord, ImportJob, Subscriber, Suppression
from subscribers.services import ConsentContext, subscriber_preferences_update
from tests.factories import ImportJobFactory, SubscriberFactory, SubscriptionFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db

SUBSCRIBERS = "/admin/subscribers/subscriber/"
SUPPRESSIONS = "/admin/subscribers/suppression/"
IMPORTS = "/admin/subscribers/importjob/"


def _rows(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_export_streams_the_filtered_changelist_with_every_page(admin_client):
    news = TopicFactory(slug="news")
    for i in range(3):
        SubscriptionFactory(subscriber=SubscriberFactory(email=f"a{i}@example.com"), topic=news)
    SubscriberFactory(email="pending@example.com", status="pending")
    response = admin_client.get(SUBSCRIBERS + "export.csv", {"status__exact": "active", "p": "2"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="subscriber-')
    rows = _rows(response)
    assert sorted(r["email"] for r in rows) == ["a0@example.com", "a1@example.com", "a2@example.com"]
    assert rows[0]["topics"] == "news"


def test_export_keeps_the_search_of_the_changelist(admin_client):
    SubscriberFactory(email="ada@example.com", name="Ada")
    SubscriberFactory(email="grace@example.com", name="Grace")
    rows = _rows(admin_client.get(SUBSCRIBERS + "export.csv", {"q": "grace@example.com"}))
    assert [r["email"] for r in rows] == ["grace@example.com"]


@pytest.mark.parametrize("value", ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_exported_cells_that_look_like_formulas_are_escaped(admin_client, value):
    SubscriberFactory(email="ada@example.com", name=value)
    rows = _rows(admin_client.get(SUBSCRIBERS + "export.csv"))
    assert rows[0]["name"] == "'" + value


def test_the_changelist_offers_export_and_import_buttons_keeping_filters(admin_client):
    SubscriberFactory()
    html = admin_client.get(SUBSCRIBERS, {"status__exact": "active"}).content.decode()
    assert "export.csv?status__exact=active" in html
    assert "/admin/subscribers/importjob/add/" in html


def test_export_selected_action_streams_only_the_selection(admin_client):
    chosen, _ = SubscriberFactory(email="chosen@example.com"), SubscriberFactory()
    response = admin_client.post(SUBSCRIBERS, {"action": "export_selected_csv", "_selected_action": [chosen.pk]})
    assert [r["email"] for r in _rows(response)] == ["chosen@example.com"]


def test_every_subscriber_list_can_be_exported(admin_client):
    SuppressionFactory(email="=evil@example.com")
    rows = _rows(admin_client.get(SUPPRESSIONS + "export.csv"))
    assert rows[0]["email"] == "'=evil@example.com"
    for model in ("topic", "subscription", "consentrecord", "importjob"):
        assert admin_client.get(f"/admin/subscribers/{model}/export.csv").status_code == 200


def test_export_needs_view_permission(client, make_user):
    client.force_login(make_user(None))
    assert client.get(SUBSCRIBERS + "export.csv").status_code == 403


def test_an_admin_adds_a_suppression_through_the_service(admin_client):
    subscriber = SubscriberFactory(email="ada@example.com")
    response = admin_client.post(
        SUPPRESSIONS + "add/", {"email": "ADA@example.com", "reason": "complaint", "note": "FBL report"}
    )
    assert response.status_code == 302
    entry = Suppression.objects.get()
    assert (entry.email, entry.reason, entry.note, entry.created_by.username) == (
        "ada@example.com",
        "complaint",
        "FBL report",
        "admin",
    )
    subscriber.refresh_from_db()
    assert subscriber.status == "complained"


def test_erased_is_not_a_reason_an_admin_can_pick(admin_client):
    response = admin_client.post(SUPPRESSIONS + "add/", {"email": "ada@example.com", "reason": "erased"})
    assert response.status_code == 200 and not Suppression.objects.exists()


def test_removing_a_hard_bounce_needs_a_note(admin_client):
    subscriber = SubscriberFactory(email="ada@example.com", status="bounced")
    entry = SuppressionFactory(email="ada@example.com", reason="hard_bounce")
    data = {"action": "remove_selected", "_selected_action": [entry.pk], "confirm": "yes", "note": ""}
    refused = admin_client.post(SUPPRESSIONS, data)
    assert refused.status_code == 200 and b"Say why" in refused.content
    assert Suppression.objects.exists()
    done = admin_client.post(SUPPRESSIONS, {**data, "note": "Mailbox restored"})
    assert done.status_code == 302 and not Suppression.objects.exists()
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_suppressions_cannot_be_deleted_or_edited_around_the_service(admin_client):
    entry = SuppressionFactory(reason="complaint")
    assert admin_client.post(f"{SUPPRESSIONS}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Suppression.objects.exists()


def test_a_publisher_can_add_but_not_remove_suppressions(client, make_user):
    client.force_login(make_user(Role.PUBLISHER))
    entry = SuppressionFactory(reason="manual")
    assert client.get(SUPPRESSIONS + "add/").status_code == 200
    page = client.get(SUPPRESSIONS).content.decode()
    assert "remove_selected" not in page
    client.post(
        SUPPRESSIONS, {"action": "remove_selected", "_selected_action": [entry.pk], "confirm": "yes", "note": "x"}
    )
    assert Suppression.objects.exists()


def test_adding_a_subscriber_in_admin_goes_through_double_opt_in(
    admin_client, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            SUBSCRIBERS + "add/", {"email": "New@Example.com", "name": "New", "timezone": "UTC", "locale": "en"}
        )
    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (subscriber.email, subscriber.status) == ("new@example.com", "pending")
    assert subscriber.consent_records.get().method == "admin"
    assert len(mailoutbox) == 1


def test_admin_cannot_add_a_suppressed_address(admin_client):
    SuppressionFactory(email="ada@example.com", reason="hard_bounce")
    response = admin_client.post(SUBSCRIBERS + "add/", {"email": "ada@example.com", "timezone": "UTC", "locale": "en"})
    assert response.status_code == 200 and b"suppression list" in response.content
    assert not Subscriber.objects.exists()


def test_uploading_a_csv_imports_it_in_the_background_and_shows_progress(
    admin_client, django_capture_on_commit_callbacks
):
    news = TopicFactory(slug="news")
    upload = SimpleUploadedFile("people.csv", b"email,name\nada@example.com,Ada\nbad,\n", content_type="text/csv")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(IMPORTS + "add/", {"file": upload, "topics": [news.pk]})
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{IMPORTS}{job.pk}/change/"
    assert (job.status, job.created_count, job.error_count) == ("completed", 1, 1)
    page = admin_client.get(response["Location"]).content.decode()
    assert "<progress" in page and "Download the row report" in page
    report = admin_client.get(f"{IMPORTS}{job.pk}/report.csv")
    assert report.status_code == 200 and b"bad" in report.content
    assert admin_client.get(IMPORTS).status_code == 200


@pytest.mark.parametrize(
    "content,message",
    [("email\nzoë@example.com\n".encode("latin-1"), "not UTF-8"), (b"email\n" + b"a@example.com\n" * 50, "limit")],
)
def test_the_upload_page_refuses_bad_files_and_writes_nothing(admin_client, settings, content, message):
    settings.SUBSCRIBERS_IMPORT_MAX_BYTES = 200
    upload = SimpleUploadedFile("people.csv", content, content_type="text/csv")
    response = admin_client.post(IMPORTS + "add/", {"file": upload})
    assert response.status_code == 200 and message in response.content.decode()
    assert not ImportJob.objects.exists() and not Subscriber.objects.exists()


def test_a_running_job_page_refreshes_itself(admin_client):
    job = ImportJobFactory(status="running", total_rows=10, processed_rows=4)
    page = admin_client.get(f"{IMPORTS}{job.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' in page and 'value="40"' in page


def test_viewers_cannot_upload(client, make_user):
    client.force_login(make_user(Role.VIEWER))
    assert client.get(IMPORTS + "add/").status_code == 403
    assert client.get(IMPORTS).status_code == 200


class _FormValues(HTMLParser):
    """What a browser would submit from a page's forms: inputs, selected options, textareas."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._select = self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "checkbox", "file", "button"):
            self.values[name] = a.get("value") or ""
        elif tag == "input" and name and a.get("type") == "checkbox" and "checked" in a:
            self.values[name] = a.get("value") or "on"
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in a:
            self.values[self._select] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.values[self._textarea] += data.removeprefix("\n")


def _change_form(client, url) -> dict[str, str]:
    parser = _FormValues()
    parser.feed(client.get(url).content.decode())
    return {k: v for k, v in parser.values.items() if k not in ("q", "action")}


@pytest.fixture
def ada_in_admin():
    ada = SubscriberFactory(email="ada@example.com", name="Ada")
    news, security = TopicFactory(slug="news"), TopicFactory(slug="security")
    SubscriptionFactory(subscriber=ada, topic=news, frequency="instant")
    return ada, news, security


def test_admin_edits_of_profile_and_subscriptions_go_through_the_preference_service(client, make_user, ada_in_admin):
    ada, news, security = ada_in_admin
    publisher = make_user(Role.PUBLISHER)
    client.force_login(publisher)
    url = f"{SUBSCRIBERS}{ada.pk}/change/"
    data = _change_form(client, url)
    data.update(
        {
            "timezone": "Europe/Paris",
            "subscriptions-0-frequency": "daily",
            "subscriptions-TOTAL_FORMS": "2",
            "subscriptions-1-topic": str(security.pk),
            "subscriptions-1-channel_kind": "email",
            "subscriptions-1-frequency": "weekly",
            "subscriptions-1-subscriber": str(ada.pk),
        }
    )
    response = client.post(url, data, follow=True)
    assert "was changed successfully" in response.content.decode(), [str(m) for m in response.context["messages"]]
    ada.refresh_from_db()
    assert ada.timezone == "Europe/Paris"
    assert dict(ada.subscriptions.values_list("topic__slug", "frequency")) == {"news": "daily", "security": "weekly"}
    [record] = ConsentRecord.objects.filter(subscriber=ada)
    assert (record.action, record.method, record.actor) == ("preferences_changed", "admin", publisher)
    assert set(record.wording.split("; ")) == {"timezone changed", "news/email: daily", "security/email: weekly"}


def test_an_admin_edit_the_service_refuses_changes_nothing_and_says_why(client, make_user, ada_in_admin):
    ada, news, _ = ada_in_admin
    client.force_login(make_user(Role.PUBLISHER))
    url = f"{SUBSCRIBERS}{ada.pk}/change/"
    data = _change_form(client, url)
    # A Slack subscription needs a Slack member ID: the service refuses the whole edit.
    data.update({"timezone": "Europe/Paris", "subscriptions-0-channel_kind": "slack"})
    response = client.post(url, data, follow=True)
    assert "Not saved" in response.content.decode() and "Slack member ID" in response.content.decode()
    ada.refresh_from_db()
    assert ada.timezone == "UTC"
    assert list(ada.subscriptions.values_list("channel_kind", "frequency")) == [("email", "instant")]
    assert not ConsentRecord.objects.filter(subscriber=ada).exists()


def test_the_subscription_admin_saves_through_the_preference_service_too(client, make_user, ada_in_admin):
    ada, news, _ = ada_in_admin
    subscription = ada.subscriptions.get()
    client.force_login(make_user(Role.PUBLISHER))
    url = f"/admin/subscribers/subscription/{subscription.pk}/change/"
    assert client.post(url, {"frequency": "off"}).status_code == 302
    subscription.refresh_from_db()
    assert subscription.frequency == "off"
    record = ConsentRecord.objects.get(subscriber=ada)
    assert record.wording == "news/email: off" and record.method == "admin"
    assert client.post(f"{url}../delete/", {"post": "yes"}).status_code == 403


def test_the_preference_service_refuses_staff_below_publisher(make_user, ada_in_admin):
    ada, _, _ = ada_in_admin
    context = ConsentContext(method=ConsentRecord.Method.ADMIN, actor=make_user(Role.EDITOR))
    with pytest.raises(ApplicationError) as error:
        subscriber_preferences_update(subscriber=ada, context=context, changes={"name": "Eve"})
    assert error.value.status_code == 403
    ada.refresh_from_db()
    assert ada.name == "Ada"
