import json

import pytest

from analytics.links import click_token_read
from channels_app.adapters.base import MessageTemplate, substitute
from channels_app.models import Channel
from channels_app.rendering import DeliveryRow, prepare
from subscribers.tokens import TokenPurpose, UnsubscribeScope, subscriber_token_read
from tests.factories import ChannelFactory, SendFactory

pytestmark = pytest.mark.django_db


def test_substitution_follows_ses_simple_rules():
    values = {"name": "<b>Ada</b>", "n": 3}
    assert substitute("{{{name}}}|{{name}}|{{ n }}|{{missing}}", values) == "<b>Ada</b>|&lt;b&gt;Ada&lt;/b&gt;|3|"


def test_a_template_renders_subject_html_and_text():
    template = MessageTemplate(key="k", subject="Hi {{{name}}}", html="<p>{{{name_html}}}</p>", text="{{{name}}}")
    assert template.render({"name": "A&B", "name_html": "A&amp;B"}) == ("Hi A&B", "<p>A&amp;B</p>", "A&B")


def test_email_variables_carry_signed_links_for_this_recipient():
    send = SendFactory(
        content={
            "email": {
                "subject": "s",
                "html": "{{{link_0}}} {{{link_1}}} {{{unsubscribe_url}}} {{{unsubscribe_all_url}}}",
                "text": "{{{preferences_url}}}",
            },
            "links": ["https://a", "https://b"],
            "topic_id": 9,
        }
    )
    channel = ChannelFactory()
    message = prepare(send=send, channel=channel).render(
        DeliveryRow(41, "ada@example.com", 7, "Ada", "ada@example.com", 3)
    )
    variables = message.variables
    assert click_token_read(variables["link_1"].rsplit("/", 1)[1]).link_index == 1
    unsubscribe = subscriber_token_read(
        purpose=TokenPurpose.UNSUBSCRIBE, token=variables["unsubscribe_url"].rsplit("/", 1)[1]
    )
    # The topic it stands for, on the channel kind it came by.
    assert (unsubscribe.subscriber_id, unsubscribe.scope) == (7, UnsubscribeScope(kind="email", topic_ids=(9,)))
    everything = subscriber_token_read(
        purpose=TokenPurpose.UNSUBSCRIBE, token=variables["unsubscribe_all_url"].rsplit("/", 1)[1]
    )
    assert everything.topic_id is None and everything.scope.is_everything
    assert (
        subscriber_token_read(
            purpose=TokenPurpose.PREFERENCES, token=variables["preferences_url"].rsplit("/", 1)[1]
        ).version
        == 3
    )
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_with_tracking_off_links_are_the_originals():
    send = SendFactory(content={"email": {"html": "{{{link_0}}}"}, "links": ["https://a.example/x"], "tracking": False})
    message = prepare(send=send, channel=ChannelFactory()).render(DeliveryRow(1, "a@example.com", 1))
    assert message.variables["link_0"] == "https://a.example/x"
    assert "open_pixel_url" not in message.variables


def test_chat_payloads_substitute_json_safely():
    send = SendFactory(content={"slack": {"text": "Hi {{{mention}}} {{{name}}}", "blocks": []}, "tracking": False})
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": "xoxb-1"})
    message = prepare(send=send, channel=channel).render(DeliveryRow(1, "U42", 5, 'Quote " and \\ back'))
    assert message.payload["text"] == 'Hi <@U42> Quote " and \\ back'
    json.dumps(message.payload)


def test_broadcast_payloads_go_to_the_channel_destination_without_personal_links():
    send = SendFactory(content={"discord": {"content": "{{{link_0}}} {{{unsubscribe_url}}}"}, "links": ["https://x"]})
    channel = ChannelFactory(kind="discord", audience=Channel.Audience.BROADCAST, credentials={"url": "u"})
    message = prepare(send=send, channel=channel).render(DeliveryRow(3, "", None))
    assert message.recipient == ""
    assert "/t/c/" in message.payload["content"] and "/u/" not in message.payload["content"]


def test_an_email_without_a_text_part_gets_one_from_its_html():
    send = SendFactory(
        content={
            "email": {
                "subject": "s",
                "html": '<h1>Hi {{{name_html}}}</h1><p>Read <a href="{{{link_0}}}">this</a>.</p><style>p{}</style>',
            },
            "links": ["https://x"],
            "tracking": False,
        }
    )
    message = prepare(send=send, channel=ChannelFactory()).render(DeliveryRow(1, "a@example.com", 1, "Ada"))
    _, _, text = message.template.render(message.variables)
    assert text == "Hi Ada\nRead this (https://x)."


def test_a_subscribers_own_name_cannot_ping_a_slack_channel():
    send = SendFactory(content={"slack": {"text": "Hi {{{name}}} ({{{email}}})", "blocks": []}, "links": []})
    channel = ChannelFactory(kind="slack", config={}, credentials={"token": "xoxb-1"})
    row = DeliveryRow(1, "U0READER1", 7, "<!channel> & co", "a<b>@example.com")
    message = prepare(send=send, channel=channel).render(row)
    assert message.payload["text"] == "Hi &lt;!channel&gt; &amp; co (a&lt;b&gt;@example.com)"


def test_a_notice_to_slack_escapes_its_text_and_other_kinds_keep_it():
    from channels_app.rendering import notice_payload

    slack = notice_payload(kind="slack", text="Channel <!here> & <@U1> paused")
    assert slack["text"] == "Channel &lt;!here&gt; &amp; &lt;@U1&gt; paused"
    assert slack["blocks"][0]["text"]["text"] == slack["text"]
    assert notice_payload(kind="discord", text="a <b>")["content"] == "a <b>"


def test_a_recipients_entry_carries_only_what_the_template_prints_and_headers_keep_their_link():
    """Issue 19: the provider request holds each recipient's variables; unused ones (and the
    links behind them) are neither signed nor sent."""
    send = SendFactory(content={"email": {"subject": "Hi {{{name}}}", "html": "{{{link_0}}}", "text": ""},
                                "links": ["https://a", "https://b"], "topic_id": 9})  # fmt: skip
    message = prepare(send=send, channel=ChannelFactory()).render(DeliveryRow(41, "ada@example.com", 7, "Ada"))
    assert set(message.variables) == {"name", "link_0"}
    assert "/u/" in message.headers["List-Unsubscribe"], "the one-click header has its link all the same"
