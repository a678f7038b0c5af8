""" "Send test to me": a publication's real rendered message, through the channel's real adapter.

No delivery row, no tracking (links are the real ones), the subject marked [Test]; the content
is the one publishing would send (publishing.services.rendering), filled in for the editor.
"""

from __future__ import annotations

from channels_app.adapters.base import MessageTemplate, RenderedMessage
from channels_app.models import Channel
from channels_app.services.channels import TestSendResult, channel_test_message_send, channel_test_recipient
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication
from publishing.services.rendering import content_render, preview_variables, publication_content
from publishing.services.states import role_require
from subscribers.models import Subscriber


def publication_test_send(
    *, publication: Publication, channel: Channel, actor, recipient: str = "", subscriber: Subscriber | None = None
) -> TestSendResult:
    """To the editor (or `recipient`); rendered as `subscriber` would get it when one is chosen."""
    role_require(actor, Role.EDITOR, "Sending a test")
    if not channel.is_active:
        raise ApplicationError.for_fields({"channel": f"This channel is disabled: {channel.disabled_reason}"})
    recipient = channel_test_recipient(channel=channel, actor=actor, recipient=recipient)
    content = publication_content(publication=publication)
    values = preview_variables(content=content, actor=actor, channel_kind=channel.kind, subscriber=subscriber)
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
    return channel_test_message_send(channel=channel, message=message)
