"""Merge fields: per-recipient values in every channel, escaped for where they land, one SES
template per send, a sandbox nothing can get out of, and the same rendering in preview, test and send."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings

from channels_app.adapters import ADAPTERS
from channels_app.models import Send
from core.exceptions import ApplicationError
from publishing.markup import body_problems
from publishing.merge import MergeTable, Recipient, merge_values
from publishing.models import Publication
from publishing.selectors import publication_merge_warnings
from publishing.services.publish import publication_publish
from publishing.services.rendering import content_render, preview_variables, publication_content, publication_preview
from publishing.services.states import publication_update
from publishing.services.testsend import publication_test_send
from subscribers.models import SubscriberField
from tests.factories import SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

BODY = (
    'Hi {{ subscriber.first_name|default:"reader" }}, greetings to {{ subscriber.attributes.company|default:"there" }}!'
)


@pytest.fixture
def merged(draft):
    draft.body, draft.priority = BODY, Publication.Priority.ALERT
    draft.email_subject = 'News for {{ subscriber.attributes.company|default:"you"|upper }}'
    draft.save(update_fields=["body", "priority", "email_subject"])
    return draft


def _reader(topic, email: str, name: str, **attributes):
    reader = SubscriberFactory(email=email, name=name, attributes=attributes)
    SubscriptionFactory(subscriber=reader, topic=topic)
    return reader


def _publish(publication, actor, capture):
    with capture(execute=True):
        return publication_publish(publication=publication, actor=actor)


def test_each_email_carries_its_recipients_values_escaped_in_html_and_raw_in_text(
    merged, topic, publisher, email_channel, outbox, django_capture_on_commit_callbacks
):
    _reader(topic, "ada@example.com", "Ada Lovelace", company="<Acme & Co>")
    _reader(topic, "anon@example.com", "")
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    by_address = {m["To"]: m for m in outbox()}
    ada, anon = by_address["ada@example.com"], by_address["anon@example.com"]
    assert ada["Subject"] == "News for <ACME & CO>" and anon["Subject"] == "News for YOU"
    html = ada.get_body(preferencelist=("html",)).get_content()
    assert "Hi Ada, greetings to &lt;Acme &amp; Co&gt;!" in html and "<Acme" not in html
    assert "Hi Ada, greetings to <Acme & Co>!" in ada.get_body(preferencelist=("plain",)).get_content()
    assert "Hi reader, greetings to there!" in anon.get_body(preferencelist=("html",)).get_content()


def test_ses_gets_one_template_per_send_and_each_recipients_values_as_replacement_data(
    merged, topic, publisher, ses_channel, ses_emulator, django_capture_on_commit_callbacks
):
    for i in range(3):
        _reader(topic, f"r{i}@example.com", f"Reader{i} X", company=f"Co{i}")
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    assert ses_emulator.stats()["requests"] == {"SendBulkEmail": 1}
    send = Send.objects.get(publication=merged)
    assert "{{{mf_0_html}}}" in send.content["email"]["html"]  # the template, not a rendered email
    for i in range(3):
        [message] = ses_emulator.messages(to=f"r{i}@example.com")
        assert f"Hi Reader{i}, greetings to Co{i}!" in message["html"]
        assert message["subject"] == f"News for CO{i}"


def test_json_payloads_get_values_json_escaped_and_slack_text_escaped(merged):
    content = publication_content(publication=merged)
    company = '<!channel> & A", "x": "y'
    values = merge_values(content["merge_fields"], Recipient(name="Bob", attributes={"company": company}), {})
    webhook = content_render(content=content, kind="webhook", variables=values)
    assert "x" not in webhook  # no key was injected: the value stayed inside its string
    assert f"greetings to {company}!" in json.dumps(webhook, ensure_ascii=False).replace('\\"', '"')
    slack = json.dumps(content_render(content=content, kind="slack", variables=values))
    assert "<!channel>" not in slack and "&lt;!channel&gt; &amp; A" in slack


@pytest.mark.parametrize(
    "body",
    [
        "{{ subscriber.password }}",
        "{{ subscriber }}",
        "{{ subscriber.__class__ }}",
        "{{ subscriber.attributes.company|safe }}",
        "{{ subscriber.name|default }}",
        "{{ subscriber.email|add:'x' }}",
        "[click](https://example.com/?c={{ subscriber.attributes.company }})",
    ],
)
def test_a_body_with_a_merge_field_outside_the_whitelist_is_refused(draft, editor, body):
    assert body_problems(body)
    with pytest.raises(ApplicationError) as refused:
        publication_update(publication=draft, actor=editor, body=body)
    assert "body" in refused.value.extra["fields"]


@pytest.mark.parametrize(
    "body",
    [
        "{{ settings.SECRET_KEY }}",
        "{% load static %}{% debug %}",
        "{{ request.user.password }}",
        "{{{unsubscribe_url}}}",
    ],
)
def test_template_syntax_that_is_not_a_merge_field_is_printed_as_written_never_evaluated(merged, editor, body):
    merged.body = body
    assert not body_problems(body)
    preview = publication_preview(publication=merged, topics=None, actor=editor)
    assert django_settings.SECRET_KEY not in json.dumps(preview)
    for kind in ("html", "text"):
        assert body in preview["email"][kind].replace("\u200b", ""), kind
    assert body in json.dumps(preview["webhook"], ensure_ascii=False).replace("\u200b", "")


def test_values_holding_template_syntax_are_printed_literally(
    merged, topic, publisher, email_channel, outbox, django_capture_on_commit_callbacks
):
    _reader(topic, "eve@example.com", "{{ settings.SECRET_KEY }}", company="{{{unsubscribe_url}}}<script>x</script>")
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    [message] = outbox()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Hi {{, greetings to {{{unsubscribe_url}}}&lt;script&gt;x&lt;/script&gt;!" in html
    assert django_settings.SECRET_KEY not in html


def test_preview_test_and_send_render_a_chosen_subscriber_identically(
    merged, topic, editor, publisher, email_channel, outbox, django_capture_on_commit_callbacks
):
    ada = _reader(topic, "ada@example.com", "Ada Lovelace", company="Analytical Engines")
    expected = "Hi Ada, greetings to Analytical Engines!"
    preview = publication_preview(publication=merged, topics=None, actor=editor, subscriber=ada)
    assert expected in preview["email"]["html"] and preview["email"]["subject"] == "News for ANALYTICAL ENGINES"
    [result] = publication_test_send(publication=merged, channel=email_channel, actor=editor, subscriber=ada)
    assert result.ok
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    test, sent = sorted(outbox(), key=lambda m: m["Subject"].startswith("[TEST]"))[::-1]
    assert test["Subject"] == "[TEST] News for ANALYTICAL ENGINES" and sent["Subject"] == "News for ANALYTICAL ENGINES"
    for message in (test, sent):
        assert expected in message.get_body(preferencelist=("html",)).get_content()


def test_a_custom_fields_default_fills_in_for_subscribers_without_a_value(merged, editor, topic):
    SubscriberField.objects.create(key="company", label="Company", type="text", default="our readers")
    merged.body = "Hello {{ subscriber.attributes.company }}"
    content = publication_content(publication=merged)
    nobody = SubscriberFactory(attributes={})
    values = preview_variables(content=content, actor=editor, channel_kind="email", subscriber=nobody)
    assert "Hello our readers" in content_render(content=content, kind="email", variables=values)["html"]


def test_merge_fields_in_a_channel_template_are_filled_per_recipient(merged, editor, settings, tmp_path, topic):
    folder = tmp_path / "channels" / "webhook" / "topics" / topic.slug
    folder.mkdir(parents=True)
    (folder / "publication.json").write_text(
        '{"greeting": "{{ subscriber.first_name|default:"friend" }}", "title": {{ title|jsonify }}}'.replace(
            "{{ title|jsonify }}", '"{{ title }}"'
        )
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    ada = SubscriberFactory(name="Ada Lovelace")
    preview = publication_preview(publication=merged, topics=[topic], actor=editor, subscriber=ada)
    assert preview["webhook"]["greeting"] == "Ada"


def test_the_admin_learns_how_many_recipients_miss_a_merge_field(merged, topic, email_channel):
    merged.body = "Hi {{ subscriber.attributes.company }} and {{ subscriber.attributes.city|default:'x' }}"
    merged.save(update_fields=["body"])
    _reader(topic, "a@example.com", "A", company="Acme")
    _reader(topic, "b@example.com", "B")
    _reader(topic, "c@example.com", "C", company="")
    warnings = publication_merge_warnings(publication=merged)
    assert warnings == [{"field": "subscriber.attributes.company", "missing": 2, "audience": 3}]


def test_marking_keeps_one_marker_per_distinct_field():
    table = MergeTable()
    marked = table.mark("{{ subscriber.name }} {{subscriber.name}} {{ subscriber.email|upper }}")
    assert len(table.fields) == 2 and marked.count("\ue0000\ue001") == 2


def test_broadcast_channels_get_the_defaults(merged, topic):
    content = publication_content(publication=merged)
    values = merge_values(content["merge_fields"], Recipient(), {})
    assert "Hi reader, greetings to there!" in json.dumps(
        content_render(content=content, kind="discord", variables=values)
    )
    assert "discord" in ADAPTERS


def _greeting(payload) -> str:
    """The Slack message's text that holds the body's merge fields."""
    texts = [block.get("text", {}).get("text", "") for block in payload["blocks"] if isinstance(block, dict)]
    return next(text for text in texts if "greetings to" in text)


def test_slack_preview_test_and_send_render_a_chosen_subscriber_identically(
    merged, topic, editor, publisher, slack_emulator, email_channel, django_capture_on_commit_callbacks
):
    from channels_app.models import TestRecipient
    from tests.emulators.fixtures import SLACK_TOKEN
    from tests.factories import ChannelFactory

    slack = ChannelFactory(
        kind="slack", is_default=True, config={"base_url": slack_emulator.url}, credentials={"token": SLACK_TOKEN}
    )
    TestRecipient.objects.create(kind="slack", address="U0EDITOR")
    ada = SubscriberFactory(
        name="Ada <!here> & Co", slack_member_id="U0ADAADA", attributes={"company": "<!channel> & Sons"}
    )
    SubscriptionFactory(subscriber=ada, topic=topic, channel_kind="slack")
    preview = _greeting(publication_preview(publication=merged, topics=None, actor=editor, subscriber=ada)["slack"])
    [result] = publication_test_send(
        publication=merged, channel=slack, actor=editor, recipients=["U0EDITOR"], subscriber=ada
    )
    assert result.ok
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    test, sent = sorted(slack_emulator.messages(), key=lambda m: m["requested_channel"] != "U0EDITOR")
    assert sent["requested_channel"] == "U0ADAADA"
    assert preview == _greeting(test) == _greeting(sent)
    assert "greetings to &lt;!channel&gt; &amp; Sons" in preview and "<!channel>" not in preview


def test_previewing_as_oneself_escapes_the_editors_name_once_per_channel(merged, editor):
    editor.first_name, editor.last_name = "Tom &", "Jerry"
    editor.save(update_fields=["first_name", "last_name"])
    merged.body = "Dear {{ subscriber.name }}"
    preview = publication_preview(publication=merged, topics=None, actor=editor)
    slack = json.dumps(preview["slack"])
    assert "Dear Tom &amp; Jerry" in slack and "&amp;amp;" not in slack
    assert "Dear Tom &amp; Jerry" in preview["email"]["html"] and "Dear Tom & Jerry" in preview["email"]["text"]


def test_the_missing_field_warning_counts_readers_on_every_personal_channel_once(merged, topic, email_channel):
    from tests.factories import ChannelFactory

    merged.body = "Hi {{ subscriber.attributes.company }}"
    merged.save(update_fields=["body"])
    _reader(topic, "a@example.com", "A", company="Acme")
    _reader(topic, "b@example.com", "B")  # email only, missing
    on_slack = SubscriberFactory(email="", slack_member_id="U0SLACKER")  # Slack only, missing
    SubscriptionFactory(subscriber=on_slack, topic=topic, channel_kind="slack")
    both = _reader(topic, "c@example.com", "C")  # email and Slack, missing: counted once
    both.slack_member_id = "U0BOTHWAYS"
    both.save(update_fields=["slack_member_id"])
    SubscriptionFactory(subscriber=both, topic=topic, channel_kind="slack")
    # Without a Slack channel nobody gets it on Slack: only the email readers count.
    assert publication_merge_warnings(publication=merged) == [
        {"field": "subscriber.attributes.company", "missing": 2, "audience": 3}
    ]
    ChannelFactory(kind="slack", is_default=True, config={}, credentials={"token": "xoxb-test"})
    warnings = publication_merge_warnings(publication=merged)
    assert warnings == [{"field": "subscriber.attributes.company", "missing": 3, "audience": 4}]


def _strings_with(value, needle: str) -> set[str]:
    """Every string inside a JSON document that contains `needle`."""
    if isinstance(value, str):
        return {value} if needle in value else set()
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return set().union(*(_strings_with(child, needle) for child in children))


def test_webhook_preview_test_and_send_carry_a_chosen_subscribers_values_identically(
    merged, topic, editor, publisher, webhook_receiver, email_channel, django_capture_on_commit_callbacks
):
    from channels_app.models import TestRecipient
    from tests.emulators.fixtures import WEBHOOK_SECRET
    from tests.factories import ChannelFactory

    hooks = ChannelFactory(kind="webhook", is_default=True, config={}, credentials={"secret": WEBHOOK_SECRET})
    TestRecipient.objects.create(kind="webhook", address=webhook_receiver.url("/test"))
    ada = SubscriberFactory(name="Ada", webhook_url=webhook_receiver.url("/ada"), attributes={"company": 'A "B" </x>'})
    SubscriptionFactory(subscriber=ada, topic=topic, channel_kind="webhook")
    preview = _strings_with(
        publication_preview(publication=merged, topics=None, actor=editor, subscriber=ada)["webhook"], "greetings to"
    )
    [result] = publication_test_send(
        publication=merged, channel=hooks, actor=editor, recipients=[webhook_receiver.url("/test")], subscriber=ada
    )
    assert result.ok
    _publish(merged, publisher, django_capture_on_commit_callbacks)
    [test] = webhook_receiver.messages("/test")
    [sent] = webhook_receiver.messages("/ada")
    assert sent["signature_valid"]
    received = [_strings_with(json.loads(message["body"]), "greetings to") for message in (test, sent)]
    assert preview and received == [preview, preview]
    assert 'Hi Ada, greetings to A "B" </x>!' in preview  # JSON-escaped on the wire, the value itself here
