""" "Send test to me": a publication's real rendered message, through the channel's real adapter.

No delivery row, no tracking (links are the real ones); the content is the one publishing would
send (publishing.services.rendering), filled in for the editor. Who may send a test, to whom,
and how it is marked as a test: channels_app.services.testsend.
"""

from __future__ import annotations

from collections.abc import Sequence

from channels_app.adapters import ADAPTERS
from channels_app.adapters.base import MessageTemplate, RenderedMessage
from channels_app.models import Channel
from channels_app.rendering import message_list_id
from channels_app.services.testsend import TestSendResult, testsend_authorize, testsend_dispatch
from core.exceptions import ApplicationError
from publishing.models import Publication
from publishing.services.rendering import content_render, preview_variables, publication_content
from subscribers.models import Subscriber


def publication_test_send(
    *,
    publication: Publication,
    channel: Channel,
    actor,
    recipients: Sequence[str] = (),
    subscriber: Subscriber | None = None,
) -> list[TestSendResult]:
    """To the editor (or allow-listed `recipients`), rendered as `subscriber` would get it when one
    is chosen."""
    testsend_authorize(actor=actor)
    if not channel.is_active:
        raise ApplicationError.for_fields({"channel": f"This channel is disabled: {channel.disabled_reason}"})
    content = publication_content(publication=publication)
    values = preview_variables(content=content, actor=actor, channel_kind=channel.kind, subscriber=subscriber)

    adapter = ADAPTERS[channel.kind]

    def compose(recipient: str) -> RenderedMessage:
        if adapter.renders_email:
            part = content[channel.kind]
            template = MessageTemplate(
                key=f"bulletin-test-publication-{publication.pk or 0}",
                subject=part["subject"],
                html=part["html"],
                text=part["text"],
            )
            # Its list's List-Id, like the real message (the test's own List-Unsubscribe is added on marking).
            list_id = message_list_id(channel=channel, content=content)
            headers = {"List-Id": list_id} if list_id else {}
            return RenderedMessage(0, recipient, template=template, variables=values, headers=headers)
        mention = {"mention": adapter.mention(recipient)} if recipient else {}
        payload = content_render(content=content, kind=channel.kind, variables={**values, **mention})
        return RenderedMessage(0, recipient, payload=payload)

    return testsend_dispatch(channel=channel, actor=actor, recipients=recipients, compose=compose)
