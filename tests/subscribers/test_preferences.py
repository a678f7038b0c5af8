"""The preference centre: no login, a signed link; every change validated, all or nothing."""

import datetime
import json
import zoneinfo

import pytest
from django.test import Client
from django.utils import timezone

from core.exceptions import ApplicationError
from subscribers.models import ConsentRecord, Subscriber, Subscription
from subscribers.services import ConsentContext, SubscriptionChoice, subscriber_preferences_update
from tests.factories import SubscriberFactory, SubscriptionFactory, TopicFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def subscriber():
    return SubscriberFactory(email="ada@example.com", name="Ada", timezone="Europe/Paris")


@pytest.fixture
def news():
    return TopicFactory(slug="news", name="News")


def _url(token_for, subscriber, suffix=""):
    return f"/preferences/{token_for(subscriber)}{suffix}"


def _form(subscriber, topics, **overrides):
    """What the browser sends back for an untouched page, with `overrides`."""
    data = {
        "name": subscriber.name,
        "slack_member_id": subscriber.slack_member_id,
        "webhook_url": subscriber.webhook_url,
        "timezone": subscriber.timezone,
        "digest_hour": subscriber.digest_hour,
        "digest_weekday": subscriber.digest_weekday,
        "paused_until": "",
    }
    current = {(s.topic_id, s.channel_kind): s.frequency for s in subscriber.subscriptions.all()}
    for topic in topics:
        for kind in ("email", "slack", "webhook"):
            data[f"frequency_{topic.pk}_{kind}"] = current.get((topic.pk, kind), "off")
    data.update(overrides)
    return data


def test_the_page_shows_topics_frequencies_and_every_form_has_a_csrf_token(client, token_for, subscriber, news):
    SubscriptionFactory(subscriber=subscriber, topic=news, frequency="daily")
    response = client.get(_url(token_for, subscriber))
    html = response.content.decode()
    assert response.status_code == 200
    assert "ada@example.com" in html and "News" in html
    assert '<option value="daily" selected>' in html
    assert html.count("csrfmiddlewaretoken") == html.count("<form")
    assert response["Cache-Control"].startswith("max-age=0")


def test_changing_a_frequency_saves_it_and_records_what_changed(client, token_for, subscriber, news):
    SubscriptionFactory(subscriber=subscriber, topic=news, frequency="instant")
    url = _url(token_for, subscriber)
    response = client.post(url, _form(subscriber, [news], **{f"frequency_{news.pk}_email": "weekly"}))
    assert response.status_code == 302 and response["Location"] == url
    assert Subscription.objects.get(subscriber=subscriber, topic=news).frequency == "weekly"
    record = subscriber.consent_records.get()
    assert (record.action, record.method, record.wording) == ("preferences_changed", "link", "news/email: weekly")
    assert "Your preferences are saved." in client.get(url).content.decode()


def test_saving_an_untouched_page_changes_nothing(client, token_for, subscriber, news):
    SubscriptionFactory(subscriber=subscriber, topic=news)
    client.post(_url(token_for, subscriber), _form(subscriber, [news]))
    assert not subscriber.consent_records.exists()
    assert Subscription.objects.count() == 1


def test_contact_points_digest_time_and_pause_are_saved(client, token_for, subscriber, news):
    data = _form(
        subscriber,
        [news],
        slack_member_id="U01ABCDEF",
        webhook_url="https://discord.com/api/webhooks/1/abc",
        timezone="America/New_York",
        digest_hour=7,
        digest_weekday=4,
        paused_until=(timezone.now() + datetime.timedelta(days=10)).date().isoformat(),
        **{f"frequency_{news.pk}_slack": "daily", f"frequency_{news.pk}_webhook": "instant"},
    )
    assert client.post(_url(token_for, subscriber), data).status_code == 302
    subscriber.refresh_from_db()
    assert (subscriber.slack_member_id, subscriber.timezone, subscriber.digest_hour, subscriber.digest_weekday) == (
        "U01ABCDEF",
        "America/New_York",
        7,
        4,
    )
    local = subscriber.paused_until.astimezone(zoneinfo.ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (0, 0)
    kinds = dict(subscriber.subscriptions.values_list("channel_kind", "frequency"))
    assert kinds == {"slack": "daily", "webhook": "instant"}


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("webhook_url", "http://example.com/hook", "Enter a valid https URL."),
        ("webhook_url", "https://127.0.0.1/hook", "reachable on the public internet"),
        ("webhook_url", "https://localhost/hook", "reachable on the public internet"),
        ("webhook_url", "javascript:alert(1)", "Enter a valid https URL."),
        ("slack_member_id", "bob", "A Slack member ID looks like"),
        ("timezone", "Mars/Olympus", "Select a valid choice"),
        ("digest_hour", "24", "Select a valid choice"),
        ("paused_until", "2001-01-01", "Choose a moment in the future"),
    ],
)
def test_invalid_values_are_refused_and_nothing_is_saved(
    client, token_for, subscriber, news, field, value, message, settings
):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    SubscriptionFactory(subscriber=subscriber, topic=news)
    data = _form(subscriber, [news], **{field: value, "name": "Changed", f"frequency_{news.pk}_email": "weekly"})
    response = client.post(_url(token_for, subscriber), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html and "Nothing was saved." in html
    subscriber.refresh_from_db()
    assert subscriber.name == "Ada"
    assert subscriber.subscriptions.get().frequency == "instant"


def test_http_webhooks_are_accepted_only_when_the_setting_allows_them(client, token_for, subscriber, news, settings):
    settings.SUBSCRIBER_WEBHOOK_ALLOW_HTTP = True
    data = _form(subscriber, [news], webhook_url="http://hooks.example.com/me")
    assert client.post(_url(token_for, subscriber), data).status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.webhook_url == "http://hooks.example.com/me"


def test_a_slack_subscription_needs_a_member_id(client, token_for, subscriber, news):
    response = client.post(
        _url(token_for, subscriber), _form(subscriber, [news], **{f"frequency_{news.pk}_slack": "instant"})
    )
    assert response.status_code == 400
    assert "Add a Slack member ID" in response.content.decode()
    assert not Subscription.objects.exists()


def test_unsubscribing_from_everything_on_the_page(client, token_for, subscriber):
    response = client.post(_url(token_for, subscriber, "/unsubscribe"))
    assert response.status_code == 200 and "You are unsubscribed" in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.status == "unsubscribed"
    assert subscriber.consent_records.get().method == "link"


def test_unsubscribing_from_the_page_needs_a_post(client, token_for, subscriber):
    assert client.get(_url(token_for, subscriber, "/unsubscribe")).status_code == 405
    subscriber.refresh_from_db()
    assert subscriber.status == "active"


def test_download_my_data_is_json_with_everything(client, token_for, subscriber, news):
    SubscriptionFactory(subscriber=subscriber, topic=news)
    response = client.get(_url(token_for, subscriber, "/data.json"))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["profile"]["email"] == "ada@example.com"
    assert data["subscriptions"][0]["topic__slug"] == "news"


def test_revoking_links_kills_old_links_and_mails_a_fresh_one(
    client, token_for, subscriber, mailoutbox, django_capture_on_commit_callbacks
):
    old = _url(token_for, subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(old + "/revoke")
    assert response.status_code == 200 and "no longer work" in response.content.decode()
    stale = client.get(old)
    assert stale.status_code == 410 and "replaced by a newer one" in stale.content.decode()
    assert client.post(old, {"name": "Hacker"}).status_code == 410
    fresh = mailoutbox[0].body.split("/preferences/", 1)[1].split()[0]
    assert client.get(f"/preferences/{fresh}").status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.token_version == 2 and subscriber.name == "Ada"


def test_an_expired_link_offers_a_fresh_link_and_never_a_500(client, token_for, subscriber, settings):
    url = _url(token_for, subscriber)
    settings.PREFERENCES_TOKEN_MAX_AGE = -1
    response = client.get(url)
    assert response.status_code == 410
    assert "This link has expired." in response.content.decode()


@pytest.mark.parametrize("suffix", ["", "/unsubscribe", "/revoke", "/data.json"])
def test_a_tampered_link_changes_nothing_on_any_page(client, token_for, subscriber, suffix):
    token = token_for(subscriber)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = (
        client.post(f"/preferences/{tampered}{suffix}")
        if suffix not in ("", "/data.json")
        else client.get(f"/preferences/{tampered}{suffix}")
    )
    assert response.status_code == 400
    subscriber.refresh_from_db()
    assert (subscriber.status, subscriber.token_version) == ("active", 1)


def test_the_fresh_link_form_answers_the_same_for_known_and_unknown_addresses(
    client, subscriber, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = client.post("/links/new", {"email": "ADA@example.com"})
        unknown = client.post("/links/new", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def test_preference_forms_refuse_posts_without_csrf(token_for, subscriber, news):
    strict = Client(enforce_csrf_checks=True)
    url = _url(token_for, subscriber)
    assert strict.post(url, _form(subscriber, [news], name="X")).status_code == 403
    assert strict.post(url + "/unsubscribe").status_code == 403
    assert strict.post(url + "/revoke").status_code == 403
    subscriber.refresh_from_db()
    assert (subscriber.name, subscriber.status, subscriber.token_version) == ("Ada", "active", 1)


def test_the_service_refuses_unknown_fields_and_bad_values_all_at_once(subscriber, news):
    context = ConsentContext(method=ConsentRecord.Method.API)
    with pytest.raises(ApplicationError) as caught:
        subscriber_preferences_update(
            subscriber=subscriber,
            context=context,
            changes={"email": "x@example.com", "digest_hour": 30, "timezone": "Nowhere", "name": "Fine"},
            subscriptions=[SubscriptionChoice(topic=news, channel_kind="pigeon", frequency="hourly")],
        )
    assert set(caught.value.extra["fields"]) == {"email", "digest_hour", "timezone", "subscriptions"}
    assert Subscriber.objects.get().name == "Ada"


def test_private_webhook_targets_are_accepted_only_when_the_operator_allows_them(subscriber, settings):
    context = ConsentContext(method=ConsentRecord.Method.API)
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(ApplicationError):
        subscriber_preferences_update(
            subscriber=subscriber, context=context, changes={"webhook_url": "https://10.0.0.5/h"}
        )
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = True
    subscriber_preferences_update(subscriber=subscriber, context=context, changes={"webhook_url": "https://10.0.0.5/h"})
    subscriber.refresh_from_db()
    assert subscriber.webhook_url == "https://10.0.0.5/h"


def test_a_revoked_link_page_mails_a_fresh_link_to_its_owner(
    client, token_for, subscriber, mailoutbox, django_capture_on_commit_callbacks
):
    old_token = token_for(subscriber)
    Subscriber.objects.filter(pk=subscriber.pk).update(token_version=2)
    page = client.get(f"/preferences/{old_token}")
    assert page.status_code == 410 and f'value="{old_token}"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/links/new", {"token": old_token, "purpose": "preferences"})
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    fresh = mailoutbox[0].body.split("/preferences/", 1)[1].split()[0]
    assert client.get(f"/preferences/{fresh}").status_code == 200


def test_no_fresh_link_is_mailed_to_a_bounced_address(client, mailoutbox, django_capture_on_commit_callbacks):
    from tests.factories import SuppressionFactory

    SubscriberFactory(email="gone@example.com", status="bounced")
    SuppressionFactory(email="gone@example.com", reason="hard_bounce")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/links/new", {"email": "gone@example.com"})
    assert response.status_code == 200 and mailoutbox == []
