"""Send test to me: the real rendered content through the real adapter, for any channel."""

import json

import pytest

from channels_app.models import Channel, Delivery
from core.exceptions import ApplicationError
from publishing.services.testsend import publication_test_send
from tests.emulators.fixtures import SLACK_TOKEN, WEBHOOK_SECRET
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def test_an_email_test_goes_to_the_editor_with_the_real_content_and_untracked_links(
    draft, editor, email_channel, outbox
):
    result = publication_test_send(publication=draft, channel=email_channel, actor=editor)
    assert result.ok and result.recipient == editor.email
    [message] = outbox()
    assert message["Subject"] == "[Test] Quarterly results"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://example.com/report?q=1&r=2"' in html and "/t/c/" not in html
    assert not Delivery.objects.exists()


def test_a_test_through_ses_reaches_the_emulator(draft, editor, ses_channel, ses_emulator):
    result = publication_test_send(publication=draft, channel=ses_channel, actor=editor, recipient="me@example.com")
    assert result.ok and result.provider_message_id
    [message] = ses_emulator.messages(to="me@example.com")
    assert message["subject"] == "[Test] Quarterly results"


def test_a_slack_test_posts_blocks_to_the_member_given(draft, editor, slack_emulator):
    channel = ChannelFactory(
        kind=Channel.Kind.SLACK, config={"base_url": slack_emulator.url}, credentials={"token": SLACK_TOKEN}
    )
    assert publication_test_send(publication=draft, channel=channel, actor=editor, recipient="U0EDITOR").ok
    [message] = slack_emulator.messages()
    assert message["text"].startswith("<@U0EDITOR> New: Quarterly results")
    assert message["blocks"][0]["text"]["text"] == "Quarterly results"


def test_a_discord_broadcast_test_posts_the_embed(draft, editor, discord_emulator):
    channel = ChannelFactory(
        kind=Channel.Kind.DISCORD,
        audience=Channel.Audience.BROADCAST,
        config={},
        credentials={"url": discord_emulator.webhook_url()},
    )
    assert publication_test_send(publication=draft, channel=channel, actor=editor).ok
    [message] = discord_emulator.messages()
    assert message["embeds"][0]["title"] == "Quarterly results"


def test_a_webhook_test_is_signed_json(draft, editor, webhook_receiver):
    channel = ChannelFactory(
        kind=Channel.Kind.WEBHOOK,
        audience=Channel.Audience.BROADCAST,
        config={"url": webhook_receiver.url("/in")},
        credentials={"secret": WEBHOOK_SECRET},
    )
    assert publication_test_send(publication=draft, channel=channel, actor=editor).ok
    [request] = webhook_receiver.messages()
    assert request["signature_valid"] and json.loads(request["body"])["publication"]["slug"] == draft.slug


def test_a_provider_error_is_reported_not_raised(draft, editor, webhook_receiver):
    webhook_receiver.respond(500)
    channel = ChannelFactory(
        kind=Channel.Kind.WEBHOOK,
        audience=Channel.Audience.BROADCAST,
        config={"url": webhook_receiver.url("/in")},
        credentials={"secret": WEBHOOK_SECRET},
    )
    result = publication_test_send(publication=draft, channel=channel, actor=editor)
    assert not result.ok and "500" in result.error


def test_a_personal_slack_test_needs_a_member_id(draft, editor):
    channel = ChannelFactory(kind=Channel.Kind.SLACK, config={}, credentials={"token": SLACK_TOKEN})
    with pytest.raises(ApplicationError) as error:
        publication_test_send(publication=draft, channel=channel, actor=editor)
    assert "recipient" in error.value.extra["fields"]
