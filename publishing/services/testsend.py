""" "Send test to me": a publication's real rendered message, through the channel's real adapter.

No delivery row, no tracking (links are the real ones), the subject marked [Test]; the content
is the one publishing would send (publishing.services.rendering), filled in for the editor.
"""

from __future__ import annotations

from channels_app.adapters import adapter_for
from channels_app.adapters.base import MessageTemplate, ProviderError, RenderedMessage
from channels_app.models import Channel
from channels_app.services.channels import TestSendResult
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication
from publishing.services.rendering import content_render, publication_content, sample_variables
from publishing.services.states import role_require

_RECIPIENT_HINT = {"email": "an email address", "slack": "a Slack member ID", "webhook": "a webhook URL"}


def _recipient(channel: Channel, actor, recipient: str) -> str:
    if channel.audience == Channel.Audience.BROADCAST:
        return ""
    recipient = recipient.strip() or (getattr(actor, "email", "") if channel.kind == Channel.Kind.EMAIL else "")
    if not recipient:
        raise ApplicationError.for_fields({"recipient": f"Give {_RECIPIENT_HINT[channel.kind]} to send the test to."})
    return recipient


def publication_test_send(*, publication: Publication, channel: Channel, actor, recipient: str = "") -> TestSendResult:
    role_require(actor, Role.EDITOR, "Sending a test")
    if not channel.is_active:
        raise ApplicationError.for_fields({"channel": f"This channel is disabled: {channel.disabled_reason}"})
    recipient = _recipient(channel, actor, recipient)
    content = publication_content(publication=publication)
    values = sample_variables(actor=actor, links=content["links"], channel_kind=channel.kind)
    if channel.kind == Channel.Kind.SLACK and recipient:
        values["mention"] = f"<@{recipient}>"
    if channel.kind == Channel.Kind.EMAIL:
        part = content["email"]
        template = MessageTemplate(
            key=f"bulletin-test-publication-{publication.pk or 0}",
            subject=f"[Test] {part['subject']}",
            html=part["html"],
            text=part["text"],
        )
        message = RenderedMessage(0, recipient, template=template, variables=values)
    else:
        message = RenderedMessage(
            0, recipient, payload=content_render(content=content, kind=channel.kind, variables=values)
        )
    try:
        [result] = adapter_for(channel).send_batch([message])
    except ProviderError as exc:
        return TestSendResult(ok=False, error=exc.message, recipient=recipient)
    return TestSendResult(
        ok=result.ok, provider_message_id=result.provider_message_id, error=result.error, recipient=recipient
    )
