"""Publishing: alerts at once on the alerts queue, newsletters, scheduling, idempotency."""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from channels_app.models import Channel, Delivery, Send
from core.exceptions import ApplicationError
from publishing.models import Publication
from publishing.services.publish import publication_publish, publications_publish_due
from tests.factories import ChannelFactory, PublicationFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def _publish(publication, actor, capture, **kwargs):
    with capture(execute=True):
        return publication_publish(publication=publication, actor=actor, **kwargs)


def test_an_alert_reaches_every_instant_subscriber_at_once_through_the_alerts_queue(
    draft, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    draft.priority = Publication.Priority.ALERT
    draft.save(update_fields=["priority"])
    readers = make_readers(3)
    make_readers(2, frequency="daily")  # digest readers wait for their digest
    from publishing.tasks import send_materialize_task

    with mock.patch.object(send_materialize_task, "apply_async", wraps=send_materialize_task.apply_async) as queued:
        published = _publish(draft, publisher, django_capture_on_commit_callbacks)

    assert published.state == Publication.State.PUBLISHED and published.published_at is not None
    send = Send.objects.get(publication=draft)
    assert (send.key, send.kind, send.high_priority) == (f"publication:{draft.pk}:alert", "alert", True)
    assert queued.call_args.kwargs["queue"] == "alerts"
    messages = outbox()
    assert sorted(m["To"] for m in messages) == sorted(r.email for r in readers)
    assert all(m["Subject"] == "Quarterly results" for m in messages)
    assert all("List-Unsubscribe" in m for m in messages)
    html = messages[0].get_body(preferencelist=("html",)).get_content()
    assert "/t/c/" in html and "Bulletin, 1 Example Street" in html
    send.refresh_from_db()
    assert send.status == Send.Status.COMPLETED


def test_publishing_twice_sends_once(
    draft, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    draft.priority = Publication.Priority.ALERT
    draft.save(update_fields=["priority"])
    make_readers(2)
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    again = _publish(draft, publisher, django_capture_on_commit_callbacks)
    assert again.state == Publication.State.PUBLISHED
    assert Send.objects.filter(publication=draft).count() == 1
    assert Delivery.objects.count() == 2 and len(outbox()) == 2


def test_a_retried_send_start_never_sends_twice(
    draft, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    from publishing.services.publish import publication_send_start

    make_readers(2)
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        publication_send_start(publication=draft, actor=publisher)
    assert Send.objects.filter(publication=draft).count() == 1
    assert len(outbox()) == 2


def test_a_normal_publication_goes_to_instant_subscribers_as_a_newsletter_on_the_bulk_queue(
    draft, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    make_readers(2)
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    send = Send.objects.get(publication=draft)
    assert (send.kind, send.high_priority, send.key) == ("newsletter", False, f"publication:{draft.pk}:newsletter")
    assert len(outbox()) == 2


def test_broadcast_channels_of_the_topics_receive_the_alert(
    draft, publisher, topic, email_channel, webhook_receiver, django_capture_on_commit_callbacks
):
    from tests.emulators.fixtures import WEBHOOK_SECRET

    draft.priority = Publication.Priority.ALERT
    draft.save(update_fields=["priority"])
    partner = ChannelFactory(
        kind="webhook",
        audience=Channel.Audience.BROADCAST,
        config={"url": webhook_receiver.url("/partner")},
        credentials={"secret": WEBHOOK_SECRET},
    )
    partner.topics.add(topic)
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    [request] = webhook_receiver.messages()
    body = json.loads(request["body"])
    assert body["type"] == "publication.alert"
    assert body["publication"]["title"] == "Quarterly results"
    assert body["publication"]["url"].startswith("http") and "/t/c/" in body["publication"]["url"]
    assert body["unsubscribe_url"] == ""


def test_every_due_scheduled_publication_goes_in_one_beat_run_however_many_came_due(
    topic, publisher, email_channel, django_capture_on_commit_callbacks
):
    when = timezone.now() - timedelta(seconds=1)
    PublicationFactory.create_batch(
        7, topics=[topic], state=Publication.State.SCHEDULED, publish_at=when, approved_by=publisher
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert publications_publish_due(batch=3) == 7, "batch after batch until none is due"
    assert not Publication.objects.filter(state=Publication.State.SCHEDULED).exists()
    assert Send.objects.count() == 7


def test_scheduling_publishes_at_publish_at_through_the_beat_service(
    draft, publisher, email_channel, make_readers, outbox, django_capture_on_commit_callbacks
):
    make_readers(1)
    when = timezone.now() + timedelta(minutes=30)
    scheduled = _publish(draft, publisher, django_capture_on_commit_callbacks, publish_at=when)
    assert scheduled.state == Publication.State.SCHEDULED and scheduled.approved_by == publisher
    with django_capture_on_commit_callbacks(execute=True):
        assert publications_publish_due(now=when - timedelta(seconds=1)) == 0
    assert not Send.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert publications_publish_due(now=when) == 1
        assert publications_publish_due(now=when + timedelta(seconds=15)) == 0  # the next tick
    draft.refresh_from_db()
    assert draft.state == Publication.State.PUBLISHED and draft.published_at == when
    assert Send.objects.get().created_by == publisher
    assert len(outbox()) == 1


def test_publish_at_in_the_past_is_a_field_error_and_changes_nothing(draft, publisher):
    with pytest.raises(ApplicationError) as error:
        publication_publish(publication=draft, actor=publisher, publish_at=timezone.now() - timedelta(minutes=1))
    assert "publish_at" in error.value.extra["fields"]
    draft.refresh_from_db()
    assert draft.state == Publication.State.DRAFT and not Send.objects.exists()


def test_an_editor_cannot_publish(draft, editor):
    with pytest.raises(ApplicationError) as error:
        publication_publish(publication=draft, actor=editor)
    assert error.value.status_code == 403 and "publisher" in error.value.message
    draft.refresh_from_db()
    assert draft.state == Publication.State.DRAFT


def test_a_publication_without_topics_cannot_be_published(draft, publisher):
    draft.topics.clear()
    with pytest.raises(ApplicationError) as error:
        publication_publish(publication=draft, actor=publisher)
    assert "topics" in error.value.extra["fields"]


def test_a_changed_audience_must_be_confirmed_again(draft, publisher, email_channel, make_readers):
    make_readers(2)
    with pytest.raises(ApplicationError) as error:
        publication_publish(publication=draft, actor=publisher, confirmed_audience=5)
    assert error.value.status_code == 409 and error.value.extra["audience"] == 2
    draft.refresh_from_db()
    assert draft.state == Publication.State.DRAFT
    assert publication_publish(publication=draft, actor=publisher, confirmed_audience=2).state == "published"


def test_a_scheduled_publication_whose_topics_were_removed_goes_back_to_draft(draft, publisher):
    when = timezone.now() + timedelta(minutes=5)
    publication_publish(publication=draft, actor=publisher, publish_at=when)
    draft.topics.clear()
    assert publications_publish_due(now=when) == 0
    draft.refresh_from_db()
    assert draft.state == Publication.State.DRAFT
    assert "Not published" in draft.transitions.first().note


def test_slack_subscribers_are_mentioned_in_their_direct_message(
    draft, publisher, topic, slack_emulator, email_channel, django_capture_on_commit_callbacks
):
    from tests.emulators.fixtures import SLACK_TOKEN

    ChannelFactory(
        kind="slack",
        is_default=True,
        config={"base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )
    reader = SubscriberFactory(slack_member_id="U0READER")
    SubscriptionFactory(subscriber=reader, topic=topic, channel_kind="slack")
    _publish(draft, publisher, django_capture_on_commit_callbacks)
    [message] = slack_emulator.messages()
    assert message["requested_channel"] == "U0READER"
    assert message["text"].startswith("<@U0READER> New: Quarterly results")
    assert message["blocks"][0]["type"] == "header"


def test_titles_summaries_and_topic_names_ping_nobody_on_slack_or_discord(
    draft, publisher, topic, slack_emulator, discord_emulator, email_channel, django_capture_on_commit_callbacks
):
    from tests.emulators.fixtures import SLACK_TOKEN

    ChannelFactory(
        kind="slack",
        is_default=True,
        config={"base_url": slack_emulator.url},
        credentials={"token": SLACK_TOKEN},
    )
    discord = ChannelFactory(
        kind="discord",
        audience=Channel.Audience.BROADCAST,
        config={},
        credentials={"url": discord_emulator.webhook_url()},
    )
    discord.topics.set([topic])
    topic.name = "<!everyone> News"
    topic.save(update_fields=["name"])
    draft.title = "<!channel> Launch & <@U0BOSS01> review"
    draft.summary = "<!here> read this"
    draft.save(update_fields=["title", "summary"])
    reader = SubscriberFactory(slack_member_id="U0READER")
    SubscriptionFactory(subscriber=reader, topic=topic, channel_kind="slack")
    _publish(draft, publisher, django_capture_on_commit_callbacks)

    [message] = slack_emulator.messages()
    posted = json.dumps([message["text"], message["blocks"]])
    for mention in ("<!channel>", "<!here>", "<!everyone>", "<@U0BOSS01>"):
        assert mention not in posted
    assert message["text"] == "<@U0READER> New: &lt;!channel&gt; Launch &amp; &lt;@U0BOSS01&gt; review"
    assert "&lt;!here&gt; read this" in posted and "&lt;!everyone&gt; News" in posted
    [embed_message] = discord_emulator.messages()
    assert embed_message["payload"]["allowed_mentions"] == {"parse": []}
