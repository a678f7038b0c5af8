"""GDPR export (everything we hold, events included) and erasure (personal data gone, hash kept)."""

import pytest
from django.db.models import Count

from channels_app.models import Delivery
from core.roles import Role
from subscribers.models import ConsentRecord, Subscriber, Subscription, Suppression, email_hash
from subscribers.selectors import mailable_subscribers
from subscribers.services import subscriber_erase, subscriber_subscribe
from tests.factories import (
    ConsentRecordFactory,
    DeliveryFactory,
    EngagementEventFactory,
    SendFactory,
    SubscriberFactory,
    SubscriptionFactory,
    SuppressionFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db

SUBSCRIBERS = "/api/v1/publishing/subscribers"


@pytest.fixture
def ada():
    subscriber = SubscriberFactory(email="ada@example.com", name="Ada Lovelace", slack_member_id="U01ADA0001")
    SubscriptionFactory(subscriber=subscriber, topic=TopicFactory(slug="news"))
    ConsentRecordFactory(subscriber=subscriber, ip_address="192.0.2.1")
    delivery = DeliveryFactory(subscriber=subscriber, send=SendFactory(subject="Hello"))
    EngagementEventFactory(delivery=delivery, kind="open")
    EngagementEventFactory(delivery=delivery, kind="click", metadata={"link": 0})
    return subscriber


def test_the_export_holds_profile_subscriptions_consent_deliveries_and_events(client_for, ada):
    response = client_for(Role.ADMIN).get(f"{SUBSCRIBERS}/{ada.pk}/export")
    assert response.status_code == 200
    data = response.json()
    assert data["profile"]["email"] == "ada@example.com"
    assert data["profile"]["slack_member_id"] == "U01ADA0001"
    assert data["subscriptions"][0]["topic__slug"] == "news"
    assert data["consent_records"][0]["ip_address"] == "192.0.2.1"
    assert data["deliveries"][0]["recipient"] == "ada@example.com"
    assert data["deliveries"][0]["send__subject"] == "Hello"
    assert sorted(e["kind"] for e in data["engagement_events"]) == ["click", "open"]
    assert data["suppression"] is None


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR, Role.PUBLISHER])
def test_export_and_erasure_need_the_admin_role(client_for, ada, role):
    client = client_for(role)
    assert client.get(f"{SUBSCRIBERS}/{ada.pk}/export").status_code == 403
    assert client.delete(f"{SUBSCRIBERS}/{ada.pk}").status_code == 403
    assert Subscriber.objects.filter(pk=ada.pk).exists()


def test_exporting_an_unknown_subscriber_is_a_json_404(client_for):
    response = client_for(Role.ADMIN).get(f"{SUBSCRIBERS}/999999/export")
    assert response.status_code == 404 and response.json()["message"]


def test_erasure_removes_personal_data_and_keeps_aggregates_right(client_for, ada):
    other = DeliveryFactory(send=Delivery.objects.get().send)
    counts_before = dict(Delivery.objects.values_list("send_id").annotate(n=Count("id")))
    response = client_for(Role.ADMIN).delete(f"{SUBSCRIBERS}/{ada.pk}")
    assert response.status_code == 204
    assert not Subscriber.objects.filter(pk=ada.pk).exists()
    assert not Subscription.objects.exists() and not ConsentRecord.objects.exists()
    erased = Delivery.objects.exclude(pk=other.pk).get()
    assert (erased.subscriber_id, erased.recipient) == (None, "")
    assert erased.events.count() == 2, "engagement still counts"
    assert dict(Delivery.objects.values_list("send_id").annotate(n=Count("id"))) == counts_before
    other.refresh_from_db()
    assert other.recipient != ""
    entry = Suppression.objects.get()
    assert (entry.email, entry.email_hash, entry.reason) == ("", email_hash("ada@example.com"), "erased")
    assert "ada" not in entry.note.lower()


def test_an_erased_address_is_never_mailed_again(ada, form_context, mailoutbox, django_capture_on_commit_callbacks):
    subscriber_erase(subscriber=ada)
    with django_capture_on_commit_callbacks(execute=True):
        assert subscriber_subscribe(email="Ada@Example.com", context=form_context) is None
    assert not Subscriber.objects.exists() and mailoutbox == []
    assert not mailable_subscribers().exists()


def test_erasing_a_suppressed_address_blanks_the_existing_entry(ada):
    SuppressionFactory(email="ada@example.com", reason="hard_bounce")
    subscriber_erase(subscriber=ada)
    entry = Suppression.objects.get()
    assert (entry.email, entry.reason) == ("", "erased")


def test_admin_erase_action_asks_for_confirmation_then_erases(admin_client, ada):
    url = "/admin/subscribers/subscriber/"
    data = {"action": "erase_selected", "_selected_action": [ada.pk]}
    confirm_page = admin_client.post(url, data)
    assert confirm_page.status_code == 200 and b"cannot be undone" in confirm_page.content
    assert Subscriber.objects.filter(pk=ada.pk).exists()
    done = admin_client.post(url, {**data, "confirm": "yes"})
    assert done.status_code == 302
    assert not Subscriber.objects.exists()
    assert Suppression.objects.get().reason == "erased"


def test_the_erase_action_is_not_offered_below_the_admin_role(client, make_user, ada):
    publisher = make_user(Role.PUBLISHER)
    client.force_login(publisher)
    page = client.get("/admin/subscribers/subscriber/")
    assert page.status_code == 200 and b"erase_selected" not in page.content
    forced = client.post(
        "/admin/subscribers/subscriber/", {"action": "erase_selected", "_selected_action": [ada.pk], "confirm": "yes"}
    )
    assert forced.status_code in (200, 302)
    assert Subscriber.objects.filter(pk=ada.pk).exists()


def test_erasure_also_blanks_the_address_in_import_reports(ada):
    from tests.factories import ImportJobFactory

    job = ImportJobFactory(
        error_report="row,email,outcome,message\n3,ADA@example.com,duplicate,Same address as row 2.\n"
    )
    subscriber_erase(subscriber=ada)
    job.refresh_from_db()
    assert "ada@example.com" not in job.error_report.lower() and "[erased]" in job.error_report
