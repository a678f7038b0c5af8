"""Reads of publishing: audiences resolved in SQL."""

from __future__ import annotations

from collections.abc import Sequence

from django.db.models import Exists, F, OuterRef, QuerySet

from channels_app.models import Channel
from subscribers.models import ChannelKind, Subscriber, Subscription
from subscribers.selectors import mailable_subscribers

# Where a personal message of each kind goes: the subscriber's address, member ID or URL.
_ADDRESS = {ChannelKind.EMAIL: "email", ChannelKind.SLACK: "slack_member_id", ChannelKind.WEBHOOK: "webhook_url"}


def audience_recipients(
    *, kind: str, topic_ids: Sequence[int], frequencies: Sequence[str], subscriber_ids: Sequence[int] | None = None
) -> QuerySet[Subscriber]:
    """Mailable subscribers with a subscription of `kind` to one of the topics at one of the
    frequencies, annotated with `address`. One query; no rows are loaded here."""
    wanted = Subscription.objects.filter(
        subscriber=OuterRef("pk"), topic_id__in=list(topic_ids), channel_kind=kind, frequency__in=list(frequencies)
    )
    field = _ADDRESS[kind]
    recipients = mailable_subscribers().filter(Exists(wanted)).exclude(**{field: ""}).annotate(address=F(field))
    if subscriber_ids is not None:
        recipients = recipients.filter(pk__in=list(subscriber_ids))
    return recipients.order_by("pk")


def personal_channel(*, kind: str) -> Channel | None:
    """The default active channel carrying personal messages of this kind."""
    return Channel.objects.filter(
        kind=kind, audience=Channel.Audience.SUBSCRIBERS, is_default=True, is_active=True
    ).first()


def broadcast_channels(*, topic_ids: Sequence[int]) -> QuerySet[Channel]:
    return (
        Channel.objects.filter(audience=Channel.Audience.BROADCAST, is_active=True, topics__in=list(topic_ids))
        .distinct()
        .order_by("pk")
    )
