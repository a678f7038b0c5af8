"""Test sends: "Send test" on a channel, and publishing's "Send test to me" (which builds its
message and hands it here). One place decides who may send a test, to whom, and how a test
looks, so admin, API and shell agree:

- the editor role, checked here (a viewer calling from the shell is refused like one in admin);
- recipients: the requesting user's own email, or addresses an admin put on the allow-list
  (admin → Channels → Test recipients), at most TEST_SEND_MAX_RECIPIENTS at once; broadcast
  channels post to their own destination;
- every test is visibly a test: "[TEST] " before the email subject, a banner on Slack and
  Discord, `"test": true` in webhook JSON, and a webhook-id of its own per message;
- emails carry List-Unsubscribe like list messages; their footer links lead to a page saying it
  was a test (subscribers.links.testmessage_url), since a test subscribes nobody.
No delivery row is written and no circuit or channel state changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from channels_app.adapters import ADAPTERS, adapter_for, personal_kinds
from channels_app.adapters.base import ConfigError, MessageTemplate, ProviderError, RenderedMessage
from channels_app.models import Channel, TestRecipient
from core.exceptions import ApplicationError
from core.roles import Role, user_has_role
from subscribers.links import testmessage_list_unsubscribe_headers

TEST_SUBJECT_PREFIX = "[TEST] "


@dataclass(frozen=True)
class TestSendResult:
    __test__ = False  # not a pytest test class

    recipient: str
    ok: bool
    provider_message_id: str = ""
    error: str = ""


def testsend_authorize(*, actor) -> None:
    """Test sends need the editor role (and a user to answer for them)."""
    if not user_has_role(actor, Role.EDITOR):
        raise ApplicationError("Sending a test needs the editor role.", status_code=403)


def testsend_recipients_resolve(*, channel: Channel, actor, recipients: Sequence[str]) -> list[str]:
    """Who a test goes to: [""] for a broadcast channel (its own destination), else the given
    recipients, each the actor's own email or on the allow-list (email: the actor by default)."""
    given = _cleaned(channel.kind, recipients)
    if channel.audience == Channel.Audience.BROADCAST:
        if given:
            raise ApplicationError.for_fields({"recipients": "A broadcast channel posts to its own destination."})
        return [""]
    own = ADAPTERS[channel.kind].own_address(actor)
    given = given or ([own] if own else [])
    if not given:
        hint = ADAPTERS[channel.kind].address_label
        raise ApplicationError.for_fields({"recipients": f"Give {hint} from the test recipient allow-list."})
    limit = settings.TEST_SEND_MAX_RECIPIENTS
    if len(given) > limit:
        raise ApplicationError.for_fields({"recipients": f"At most {limit} recipients per test."})
    allowed = set(TestRecipient.objects.filter(kind=channel.kind).values_list("address", flat=True)) | {own}
    refused = [r for r in given if r not in allowed]
    if refused:
        raise ApplicationError.for_fields(
            {
                "recipients": f"Not allowed: {', '.join(refused)}. A test goes to your own email or to "
                "addresses an admin put on the allow-list (Channels → Test recipients)."
            }
        )
    return given


def _cleaned(kind: str, recipients: Sequence[str]) -> list[str]:
    """As the allow-list stores them (emails lower-case); one that is no address stays as typed
    and is then refused as not allowed."""
    cleaned = []
    for recipient in (r.strip() for r in recipients):
        try:
            cleaned.append(ADAPTERS[kind].normalize_address(recipient) if recipient else "")
        except (ValidationError, NotImplementedError):
            cleaned.append(recipient)
    return list(dict.fromkeys(r for r in cleaned if r))


def testsend_dispatch(
    *, channel: Channel, actor, recipients: Sequence[str], compose: Callable[[str], RenderedMessage]
) -> list[TestSendResult]:
    """Authorize, address, mark and send: `compose(recipient)` builds each unmarked message."""
    testsend_authorize(actor=actor)
    _config_check(channel)
    addressed = testsend_recipients_resolve(channel=channel, actor=actor, recipients=recipients)
    banner = _banner(actor)
    messages = [_marked(channel, compose(recipient), banner) for recipient in addressed]
    try:
        results = adapter_for(channel).send_batch(messages)
    except ProviderError as exc:
        return [TestSendResult(recipient=m.recipient, ok=False, error=exc.message) for m in messages]
    return [
        TestSendResult(recipient=m.recipient, ok=r.ok, provider_message_id=r.provider_message_id, error=r.error)
        for m, r in zip(messages, results, strict=True)
    ]


def _config_check(channel: Channel) -> None:
    """A channel whose stored settings are no longer valid (an ESP no longer offered) is the
    editor's to fix: a 400 naming the field, not the provider's error."""
    try:
        ADAPTERS[channel.kind].validate(channel.config, channel.credentials)
    except ConfigError as exc:
        raise ApplicationError.for_fields(exc.errors, message="Fix this channel's settings before testing it.")


def _banner(actor) -> str:
    who = actor.get_full_name() or actor.get_username()
    return f"Test sent by {who} from {settings.SITE_NAME} to check how it looks; no subscriber got it."


def _marked(channel: Channel, message: RenderedMessage, banner: str) -> RenderedMessage:
    if message.template is not None:
        template = dataclasses.replace(message.template, subject=TEST_SUBJECT_PREFIX + message.template.subject)
        headers = {**testmessage_list_unsubscribe_headers(), **message.headers}
        return dataclasses.replace(message, template=template, headers=headers)
    payload = ADAPTERS[channel.kind].mark_test(message.payload or {}, banner=banner)
    return dataclasses.replace(message, payload=payload)


def channel_test_send(*, channel: Channel, actor, recipients: Sequence[str] = ()) -> list[TestSendResult]:
    """A sample message through the channel's real adapter: the provider's confirmation or its
    exact error, per recipient."""
    return testsend_dispatch(
        channel=channel, actor=actor, recipients=recipients, compose=lambda to: _sample_message(channel, to)
    )


def _sample_message(channel: Channel, recipient: str) -> RenderedMessage:
    context = {"channel": channel}
    adapter = ADAPTERS[channel.kind]
    if adapter.renders_email:
        template = MessageTemplate(
            key=f"bulletin-test-{channel.pk}",
            subject=f"Bulletin test message from {channel.name}",
            html=render_to_string("channels/email/test.html", context),
            text=render_to_string("channels/email/test.txt", context),
        )
        return RenderedMessage(0, recipient, template=template)
    text = render_to_string("channels/test.txt", context).strip()
    payload = adapter.notice(text, type="bulletin.test", channel=channel.name)
    return RenderedMessage(0, recipient, payload=payload)


# --- The allow-list ----------------------------------------------------------------------------


@transaction.atomic
def testrecipient_add(*, kind: str, address: str, actor, note: str = "") -> TestRecipient:
    """Allow tests of `kind` to go to `address` (admin role)."""
    if not user_has_role(actor, Role.ADMIN):
        raise ApplicationError("Managing test recipients needs the admin role.", status_code=403)
    address = testrecipient_clean(kind=kind, address=address)
    try:
        with transaction.atomic():
            return TestRecipient.objects.create(kind=kind, address=address, note=note[:200], created_by=actor)
    except IntegrityError:
        raise ApplicationError.for_fields({"address": "Already on the allow-list."})


def testrecipient_clean(*, kind: str, address: str) -> str:
    """The address as stored (emails lower-case); field errors when it cannot receive tests."""
    if kind not in personal_kinds():
        kinds = ", ".join(ADAPTERS[k].label for k in personal_kinds())
        raise ApplicationError.for_fields({"kind": f"Tests to a person go by one of: {kinds}."})
    try:
        return ADAPTERS[kind].normalize_address((address or "").strip())
    except ValidationError as exc:
        raise ApplicationError.for_fields({"address": exc.messages})
