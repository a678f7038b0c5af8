"""The sunset policy: inactive subscribers are marked, re-engaged or suppressed, with reasons."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from analytics.models import HygieneAction, SubscriberEngagement
from analytics.services.sunset import sunset_apply
from subscribers.models import Subscriber, Suppression
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def policy(settings):
    settings.SUNSET_INACTIVE_DAYS = 90
    settings.SUNSET_MIN_DELIVERIES = 3
    settings.SUNSET_GRACE_DAYS = 14
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return settings


@pytest.fixture
def people(make_sent):
    """silent: 3 recent messages, never engaged; reader: same but opened last week; newcomer: 1 message."""
    old = timezone.now() - timedelta(days=200)
    silent, reader, newcomer = SubscriberFactory.create_batch(3)
    Subscriber.objects.filter(pk__in=[silent.pk, reader.pk, newcomer.pk]).update(created_at=old)
    for subscriber, count in ((silent, 3), (reader, 3), (newcomer, 1)):
        for _ in range(count):
            make_sent(1, subscriber=subscriber, sent_at=timezone.now() - timedelta(days=10))
    SubscriberEngagement.objects.create(subscriber=reader, last_engaged_at=timezone.now() - timedelta(days=7))
    return silent, reader, newcomer


def test_mark_only_marks_inactive_subscribers_with_the_reason(policy, people):
    policy.SUNSET_ACTION = "mark"
    silent, reader, newcomer = people
    assert sunset_apply().marked == 1
    [action] = HygieneAction.objects.all()
    assert action.subscriber_id == silent.pk and action.kind == "sunset_marked"
    assert "No human open or click in 90 days across 3 messages" in action.reason
    assert sunset_apply().marked == 0  # already marked
    assert not Suppression.objects.exists()


def test_suppress_suppresses_inactive_subscribers_at_once(policy, people):
    policy.SUNSET_ACTION = "suppress"
    silent, _, _ = people
    sunset_apply()
    suppression = Suppression.objects.get()
    assert suppression.email == silent.email and "Sunset policy" in suppression.note
    assert suppression.reason == Suppression.Reason.INACTIVE
    assert HygieneAction.objects.filter(kind="sunset_suppressed", subscriber=silent).exists()


def test_machine_opens_do_not_save_a_subscriber_from_sunset(policy, people):
    policy.SUNSET_ACTION = "mark"
    silent, _, _ = people
    assert not SubscriberEngagement.objects.filter(subscriber=silent).exists()  # only human engagement is recorded
    assert sunset_apply().marked == 1


def test_reengage_asks_once_then_suppresses_after_the_grace_period(policy, people, client):
    policy.SUNSET_ACTION = "reengage"
    silent, _, _ = people
    sunset_apply()
    assert HygieneAction.objects.filter(kind="sunset_reengage", subscriber=silent).exists()
    later = timezone.now() + timedelta(days=15)
    assert sunset_apply(now=later).suppressed == 1
    assert Suppression.objects.get().email == silent.email


def test_the_keep_link_in_the_reengagement_message_keeps_the_subscriber(
    policy, people, client, django_capture_on_commit_callbacks
):
    policy.SUNSET_ACTION = "reengage"
    silent, _, _ = people
    with django_capture_on_commit_callbacks(execute=True):
        sunset_apply()
    [message] = mail.outbox
    assert message.to == [silent.email] and "still want" in message.subject
    keep = re.search(r"https?://\S+/t/k/\S+", message.body).group(0)
    response = client.post(keep.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
    assert response.status_code == 200 and "keep getting" in response.content.decode()
    assert sunset_apply(now=timezone.now() + timedelta(days=15)).suppressed == 0
    assert not Suppression.objects.exists()


@pytest.fixture
def keep_after_grace(policy, people, django_capture_on_commit_callbacks):
    """The re-engagement message's keep path, once its grace period ran out (suppressed)."""
    policy.SUNSET_ACTION = "reengage"
    with django_capture_on_commit_callbacks(execute=True):
        sunset_apply()
    keep = re.search(r"/t/k/\S+", mail.outbox[0].body).group(0)
    assert sunset_apply(now=timezone.now() + timedelta(days=15)).suppressed == 1
    return keep


def test_a_keep_link_clicked_after_the_grace_period_lifts_the_sunset_suppression(keep_after_grace, client):
    keep = keep_after_grace
    Suppression.objects.create(email="other@example.com", email_hash="x" * 64, reason="hard_bounce")
    assert client.post(keep).status_code == 200
    assert list(Suppression.objects.values_list("reason", flat=True)) == ["hard_bounce"]


def test_a_tampered_keep_link_changes_nothing(client, people):
    assert client.get("/t/k/not-a-token").status_code == 404
    assert client.post("/t/k/not-a-token").status_code == 404
    assert not HygieneAction.objects.exists()


def test_opening_the_keep_link_only_shows_a_button_and_its_csrf_post_keeps_the_subscriber(keep_after_grace, people):
    """Link scanners GET every link in a message: a GET must not undo the sunset policy."""
    keep, (silent, _, _) = keep_after_grace, people
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(keep)
    assert page.status_code == 200 and 'method="post"' in page.content.decode()
    assert not HygieneAction.objects.filter(kind=HygieneAction.Kind.SUNSET_KEPT).exists()
    assert Suppression.objects.filter(email=silent.email, reason="inactive").exists()
    assert not SubscriberEngagement.objects.filter(subscriber=silent).exists()

    assert browser.post(keep).status_code == 403, "no CSRF token: refused"
    assert Suppression.objects.filter(email=silent.email).exists()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    kept = browser.post(keep, {"csrfmiddlewaretoken": token})
    assert kept.status_code == 200 and "keep getting" in kept.content.decode()
    assert HygieneAction.objects.filter(kind=HygieneAction.Kind.SUNSET_KEPT, subscriber=silent).exists()
    assert not Suppression.objects.filter(email=silent.email).exists()


def test_an_unknown_sunset_action_is_a_clear_error(policy):
    policy.SUNSET_ACTION = "delete-them-all"
    with pytest.raises(ValueError, match="SUNSET_ACTION must be one of"):
        sunset_apply()
