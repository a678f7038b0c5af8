"""Admin: compose with preview, workflow buttons by role, publish with the audience confirmed,
test sends, the ranking explanation, digest logs and A/B results."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from channels_app.models import Send
from publishing.models import ABTest, Publication
from publishing.services.abtests import abtest_configure
from publishing.services.digests import digests_run
from tests.factories import PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
ADMIN = "/admin/publishing/publication"


@pytest.fixture
def editor_client(client, editor):
    client.force_login(editor)
    return client


@pytest.fixture
def publisher_client(client, publisher):
    client.force_login(publisher)
    return client


def test_an_editor_composes_in_admin_and_the_service_validates(editor_client, topic, editor):
    page = editor_client.get(f"{ADMIN}/add/")
    assert page.status_code == 200 and 'id="compose-preview"' in page.content.decode()
    form = {
        "title": "From admin",
        "slug": "",
        "summary": "",
        "body": "Hello",
        "canonical_url": "",
        "topics": [topic.pk],
    }
    form |= {"priority": "normal", "ab_metric": "opens", "ab_test_fraction": "0.2", "ab_wait_minutes": "60"}
    response = editor_client.post(f"{ADMIN}/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    publication = Publication.objects.get()
    assert (publication.slug, publication.author, list(publication.topics.all())) == ("from-admin", editor, [topic])
    bad = editor_client.post(f"{ADMIN}/add/", form | {"title": "Bad", "body": "<script>x()</script>"})
    assert bad.status_code == 200 and "&lt;script&gt; is not allowed" in bad.content.decode()
    assert Publication.objects.count() == 1


def test_the_ab_test_is_configured_from_the_publication_form(editor_client, draft, topic):
    form = {"title": draft.title, "slug": draft.slug, "summary": draft.summary, "body": draft.body, "canonical_url": ""}
    form |= {"topics": [topic.pk], "priority": "normal", "ab_subjects": "First\nSecond", "ab_metric": "clicks"}
    form |= {"ab_test_fraction": "0.3", "ab_wait_minutes": "90", "quality_score": ""}
    response = editor_client.post(f"{ADMIN}/{draft.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    test = ABTest.objects.get()
    assert ([v.subject for v in test.variants.all()], test.metric, test.wait_minutes) == (
        ["First", "Second"],
        "clicks",
        90,
    )


def test_the_preview_endpoint_renders_unsaved_form_data_for_every_channel(editor_client, topic):
    response = editor_client.post(
        f"{ADMIN}/preview/",
        {"title": "Live", "body": "**bold** <iframe></iframe>", "topics": [topic.pk], "priority": "alert"},
    )
    assert response.status_code == 200
    preview = response.json()
    assert preview["email"]["subject"] == "Live" and "<strong>bold</strong>" in preview["email"]["html"]
    assert preview["slack"]["blocks"][0]["text"]["text"] == "🚨 Live"
    assert preview["problems"] == ["<iframe> is not allowed"]
    assert not Publication.objects.exists()


def test_editors_see_submit_but_no_publish_and_cannot_publish_by_url(editor_client, draft, email_channel):
    page = editor_client.get(f"{ADMIN}/{draft.pk}/change/").content.decode()
    assert "Submit for review" in page and "Approve: schedule or publish" not in page
    response = editor_client.post(f"{ADMIN}/{draft.pk}/publish/", {"confirmed_total": 0, "confirm": "on"})
    assert "Publishing needs the publisher role." in response.content.decode()
    draft.refresh_from_db()
    assert draft.state == "draft"
    editor_client.post(f"{ADMIN}/{draft.pk}/transition/submit/")
    draft.refresh_from_db()
    assert draft.state == "in_review"


def test_a_publisher_sees_the_exact_audience_per_channel_and_must_confirm_it(
    publisher_client, draft, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    make_readers(3)
    make_readers(2, frequency="daily")
    page = publisher_client.get(f"{ADMIN}/{draft.pk}/publish/").content.decode()
    assert '<td class="audience-count">3</td>' in page and "2 daily or weekly subscribers" in page
    assert 'name="confirmed_total" value="3"' in page
    unconfirmed = publisher_client.post(f"{ADMIN}/{draft.pk}/publish/", {"confirmed_total": 3})
    assert unconfirmed.status_code == 200 and "This field is required" in unconfirmed.content.decode()
    make_readers(1)  # someone subscribed while the publisher was reading
    stale = publisher_client.post(f"{ADMIN}/{draft.pk}/publish/", {"confirmed_total": 3, "confirm": "on"})
    assert "changed from 3 to 4" in stale.content.decode()
    draft.refresh_from_db()
    assert draft.state == "draft"
    with django_capture_on_commit_callbacks(execute=True):
        done = publisher_client.post(f"{ADMIN}/{draft.pk}/publish/", {"confirmed_total": 4, "confirm": "on"})
    assert done.status_code == 302
    draft.refresh_from_db()
    assert draft.state == "published" and len(outbox()) == 4


def test_a_publisher_schedules_from_the_confirmation_page(publisher_client, draft, email_channel):
    when = (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = publisher_client.post(
        f"{ADMIN}/{draft.pk}/publish/", {"publish_at": when, "confirmed_total": 0, "confirm": "on"}
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.state == "scheduled" and draft.publish_at.strftime("%Y-%m-%dT%H:%M") == when


def test_a_published_publication_is_read_only_for_editors_and_shows_its_deliveries(
    editor_client, publisher, draft, email_channel, make_readers, django_capture_on_commit_callbacks
):
    from publishing.services.publish import publication_publish

    make_readers(2)
    with django_capture_on_commit_callbacks(execute=True):
        publication_publish(publication=draft, actor=publisher)
    page = editor_client.get(f"{ADMIN}/{draft.pk}/change/").content.decode()
    assert 'name="_save"' not in page, "editors cannot edit a published publication"
    assert f"publication:{draft.pk}:newsletter" in page and "Outbox email" in page


def test_send_test_to_me_from_admin(editor_client, draft, email_channel, outbox, editor):
    response = editor_client.post(
        f"{ADMIN}/{draft.pk}/test-send/", {"channel": email_channel.pk, "recipients": ""}, follow=True
    )
    assert f"Test sent to {editor.email}" in response.content.decode()
    assert outbox()[0]["Subject"] == "[TEST] Quarterly results"


def test_send_test_from_admin_is_post_only_and_refuses_outside_addresses(editor_client, draft, email_channel, outbox):
    url = f"{ADMIN}/{draft.pk}/test-send/"
    assert editor_client.get(url, {"channel": email_channel.pk}).status_code == 405
    response = editor_client.post(
        url, {"channel": email_channel.pk, "recipients": "a@x.example, b@y.example"}, follow=True
    )
    assert (
        "Test not sent" in response.content.decode()
        and "Not allowed: a@x.example, b@y.example" in response.content.decode()
    )
    assert outbox() == []


def test_the_ranking_page_explains_each_item_for_a_chosen_subscriber(publisher_client, topic, email_channel):
    subscriber = SubscriberFactory(email="ranked@example.com")
    SubscriptionFactory(subscriber=subscriber, topic=topic, frequency="daily")
    now = timezone.now()
    PublicationFactory(
        topics=[topic], published=True, published_at=now - timedelta(hours=2), title="Fresh", quality_score=0.9
    )
    page = publisher_client.get(
        "/admin/publishing/digestlog/ranking/", {"subscriber": "ranked@example.com", "frequency": "daily"}
    ).content.decode()
    assert "Fresh" in page and "in the digest" in page and "Topic match" in page
    assert "The digest they would get now" in page and "srcdoc" in page


def test_digest_logs_and_ab_results_are_listed(publisher_client, topic, email_channel, draft, editor):
    subscriber = SubscriberFactory()
    SubscriptionFactory(subscriber=subscriber, topic=topic, frequency="daily")
    digests_run(now=datetime(2026, 1, 15, 8, tzinfo=UTC))
    page = publisher_client.get("/admin/publishing/digestlog/").content.decode()
    assert "why these?" in page
    test = abtest_configure(publication=draft, actor=editor, subjects=["One", "Two"])
    results = publisher_client.get(f"/admin/publishing/abtest/{test.pk}/change/").content.decode()
    assert "One" in results and "Two" in results and "Open rate" in results
    assert Send.objects.count() == 0


def test_previews_and_the_ranking_page_need_the_right_role(client, make_user):
    from core.roles import Role

    client.force_login(make_user(Role.VIEWER))
    assert client.post(f"{ADMIN}/preview/", {"title": "x"}).status_code == 403
    client.force_login(make_user(None))  # staff without any role
    assert client.get("/admin/publishing/digestlog/ranking/").status_code == 403


def test_a_test_send_from_admin_renders_as_the_chosen_subscriber(editor_client, draft, email_channel, outbox, editor):
    """Preview and test sends show a chosen subscriber's rendering, in the admin as in the API."""
    draft.email_subject = 'For {{ subscriber.first_name|default:"you" }}'
    draft.save(update_fields=["email_subject"])
    reader = SubscriberFactory(name="Ada Lovelace", email="ada@example.com")
    url = f"{ADMIN}/{draft.pk}/test-send/"
    response = editor_client.post(url, {"channel": email_channel.pk, "subscriber": reader.pk}, follow=True)
    assert f"Test sent to {editor.email}" in response.content.decode()
    [message] = outbox()
    assert message["Subject"] == "[TEST] For Ada" and message["To"] == editor.email  # to me, as Ada
    missing = editor_client.post(url, {"channel": email_channel.pk, "subscriber": reader.pk + 1000}, follow=True)
    assert f"no subscriber #{reader.pk + 1000}" in missing.content.decode()
    garbage = editor_client.post(url, {"channel": email_channel.pk, "subscriber": "9" * 40}, follow=True)
    assert "Test not sent" in garbage.content.decode()
    assert len(outbox()) == 1
    page = editor_client.get(f"{ADMIN}/{draft.pk}/change/").content.decode()
    assert 'name="subscriber" id="test-subscriber"' in page
