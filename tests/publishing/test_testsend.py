"""Send test to me: the real rendered content through the real adapter, for any channel, to the
editor or the admins' allow-list only, visibly marked as a test on every channel."""

import json
import re

import pytest
from django.test import Client

from channels_app.models import Channel, Delivery, TestRecipient
from channels_app.services.testsend import channel_test_send
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.services.testsend import publication_test_send
from tests.emulators.fixtures import SLACK_TOKEN, WEBHOOK_SECRET
from tests.factories import ChannelFactory

pytestmark = pytest.mark.django_db


def _allow(kind, *addresses):
    for address in addresses:
        TestRecipient.objects.create(kind=kind, address=address)


@pytest.fixture
def webhook_channel(webhook_receiver):
    return ChannelFactory(
        kind="webhook",
        audience=Channel.Audience.BROADCAST,
        config={"url": webhook_receiver.url("/in")},
        credentials={"secret": WEBHOOK_SECRET},
    )


def test_an_email_test_goes_to_the_editor_with_the_real_content_and_untracked_links(
    draft, editor, email_channel, outbox
):
    [result] = publication_test_send(publication=draft, channel=email_channel, actor=editor)
    assert result.ok and result.recipient == editor.email
    [message] = outbox()
    assert message["Subject"] == "[TEST] Quarterly results"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'href="https://example.com/report?q=1&r=2"' in html and "/t/c/" not in html
    assert not Delivery.objects.exists()


def test_a_test_through_ses_reaches_the_emulator(draft, editor, ses_channel, ses_emulator):
    _allow("email", "me@example.com")
    [result] = publication_test_send(
        publication=draft, channel=ses_channel, actor=editor, recipients=["Me@Example.com"]
    )
    assert result.ok and result.provider_message_id
    [message] = ses_emulator.messages(to="me@example.com")
    assert message["subject"] == "[TEST] Quarterly results"


def test_a_slack_test_posts_blocks_to_the_member_given_under_a_test_banner(draft, editor, slack_emulator):
    _allow("slack", "U0EDITOR")
    channel = ChannelFactory(kind="slack", config={"base_url": slack_emulator.url}, credentials={"token": SLACK_TOKEN})
    [result] = publication_test_send(publication=draft, channel=channel, actor=editor, recipients=["U0EDITOR"])
    assert result.ok
    [message] = slack_emulator.messages()
    assert message["text"].startswith("[TEST] <@U0EDITOR> New: Quarterly results")
    banner, header = message["blocks"][:2]
    assert banner["type"] == "context" and "*TEST*" in banner["elements"][0]["text"]
    assert "Eddie Editor" in banner["elements"][0]["text"]
    assert header["text"]["text"] == "Quarterly results"


def test_a_discord_broadcast_test_posts_the_embed_under_a_test_banner(draft, editor, discord_emulator):
    channel = ChannelFactory(
        kind="discord",
        audience=Channel.Audience.BROADCAST,
        config={},
        credentials={"url": discord_emulator.webhook_url()},
    )
    [result] = publication_test_send(publication=draft, channel=channel, actor=editor)
    assert result.ok
    [message] = discord_emulator.messages()
    assert message["content"].startswith("🧪 **TEST**")
    assert message["embeds"][0]["title"] == "Quarterly results"


def test_a_webhook_test_is_signed_json_that_says_it_is_a_test(draft, editor, webhook_channel, webhook_receiver):
    [result] = publication_test_send(publication=draft, channel=webhook_channel, actor=editor)
    assert result.ok
    [request] = webhook_receiver.messages()
    body = json.loads(request["body"])
    assert request["signature_valid"] and body["publication"]["slug"] == draft.slug
    assert body["test"] is True


def test_every_test_message_carries_a_webhook_id_of_its_own(draft, editor, webhook_channel, webhook_receiver):
    """Receivers drop repeated webhook-ids: a shared id would make them drop every test after the first."""
    publication_test_send(publication=draft, channel=webhook_channel, actor=editor)
    channel_test_send(channel=webhook_channel, actor=editor)
    publication_test_send(publication=draft, channel=webhook_channel, actor=editor)
    ids = [request["headers"]["webhook-id"] for request in webhook_receiver.messages()]
    assert len(ids) == len(set(ids)) == 3
    assert "msg_bulletin_0" not in ids
    assert all(request["signature_valid"] for request in webhook_receiver.messages())


def test_a_provider_error_is_reported_not_raised(draft, editor, webhook_channel, webhook_receiver):
    webhook_receiver.respond(500)
    [result] = publication_test_send(publication=draft, channel=webhook_channel, actor=editor)
    assert not result.ok and "500" in result.error


def test_a_personal_slack_test_needs_a_member_id(draft, editor):
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": SLACK_TOKEN})
    with pytest.raises(ApplicationError) as error:
        publication_test_send(publication=draft, channel=channel, actor=editor)
    assert "recipients" in error.value.extra["fields"]


@pytest.mark.parametrize("role", [None, Role.VIEWER])
def test_a_caller_without_the_editor_role_is_refused_by_the_services_themselves(
    draft, email_channel, outbox, make_user, role
):
    """The shell, a task or any view reaches the same check: no role, no test."""
    user = make_user(role)
    for send in (
        lambda: publication_test_send(publication=draft, channel=email_channel, actor=user),
        lambda: channel_test_send(channel=email_channel, actor=user),
        lambda: channel_test_send(channel=email_channel, actor=None),
    ):
        with pytest.raises(ApplicationError) as error:
            send()
        assert error.value.status_code == 403
    assert outbox() == []


def test_an_outside_address_is_refused_with_a_field_error_and_nothing_is_sent(draft, editor, email_channel, outbox):
    _allow("email", "qa@example.com")
    for recipients in (["stranger@example.net"], ["qa@example.com", "stranger@example.net"], ["\\¾"]):
        with pytest.raises(ApplicationError) as error:
            publication_test_send(publication=draft, channel=email_channel, actor=editor, recipients=recipients)
        assert "allow-list" in error.value.extra["fields"]["recipients"][0]
    assert outbox() == []


def test_more_recipients_than_the_limit_are_refused(draft, editor, email_channel, outbox, settings):
    settings.TEST_SEND_MAX_RECIPIENTS = 5
    addresses = [f"qa{i}@example.com" for i in range(6)]
    _allow("email", *addresses)
    with pytest.raises(ApplicationError) as error:
        publication_test_send(publication=draft, channel=email_channel, actor=editor, recipients=addresses)
    assert error.value.extra["fields"]["recipients"] == ["At most 5 recipients per test."]
    assert outbox() == []


def test_the_editor_and_allow_listed_addresses_each_get_one_marked_copy(draft, editor, email_channel, outbox):
    _allow("email", "qa@example.com", "legal@example.com")
    recipients = [editor.email.upper(), "qa@example.com", "legal@example.com", "qa@example.com"]
    results = publication_test_send(publication=draft, channel=email_channel, actor=editor, recipients=recipients)
    assert [r.recipient for r in results] == [editor.email, "qa@example.com", "legal@example.com"]
    assert sorted(m["To"] for m in outbox()) == sorted(r.recipient for r in results)
    assert {m["Subject"] for m in outbox()} == {"[TEST] Quarterly results"}


def test_a_test_email_has_working_footer_links_list_unsubscribe_and_no_empty_image(
    draft, editor, email_channel, outbox, settings
):
    publication_test_send(publication=draft, channel=email_channel, actor=editor)
    [message] = outbox()
    html = message.get_body(preferencelist=("html",)).get_content()
    text = message.get_body(preferencelist=("plain",)).get_content()
    assert not re.search(r"<img[^>]*src=\"\"", html), "no open pixel without tracking"
    links = set(re.findall(re.escape(settings.SITE_URL) + r"/test-message/\w+", html + text))
    assert len(links) == 2, links
    browser = Client()
    for link in links:
        page = browser.get(link.removeprefix(settings.SITE_URL))
        assert page.status_code == 200 and "This was a test message" in page.content.decode()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    one_click = message["List-Unsubscribe"].strip("<>").removeprefix(settings.SITE_URL)
    response = browser.post(one_click, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert message["List-Id"] == '"News" <news.example.com>'  # the list the real message belongs to
    assert "mailto:" not in message["List-Unsubscribe"]  # a test has no delivery to unsubscribe from


def test_a_disabled_channel_is_refused(draft, editor, email_channel):
    Channel.objects.filter(pk=email_channel.pk).update(is_active=False, disabled_reason="bad key")
    email_channel.refresh_from_db()
    with pytest.raises(ApplicationError) as error:
        publication_test_send(publication=draft, channel=email_channel, actor=editor)
    assert "bad key" in error.value.extra["fields"]["channel"][0]
