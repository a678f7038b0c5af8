"""Channels: create and update with validated config, disable, enable, send a test message."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from channels_app.adapters import ADAPTERS, adapter_for
from channels_app.adapters.base import ConfigError, MessageTemplate, ProviderError, RenderedMessage
from channels_app.circuit import circuit_reset
from channels_app.models import Channel
from channels_app.rendering import notice_payload
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

_EDITABLE = {"name", "audience", "is_default", "config", "rate_limit_per_second", "fallback", "tracking_enabled"}


def channel_validate(
    *,
    kind: str,
    audience: str,
    config: dict,
    credentials: dict,
    fallback: Channel | None,
    rate_limit_per_second: float | None = None,
) -> None:
    """Raise ApplicationError with field errors when this configuration cannot work."""
    if rate_limit_per_second is not None and rate_limit_per_second <= 0:
        raise ApplicationError.for_fields(
            {"rate_limit_per_second": "must be greater than 0 (or blank for the default)"}
        )
    try:
        ADAPTERS[kind].validate(config, credentials)
    except ConfigError as exc:
        raise ApplicationError.for_fields(exc.errors, message="Invalid channel configuration") from exc
    if kind == Channel.Kind.EMAIL and audience == Channel.Audience.BROADCAST:
        raise ApplicationError.for_fields({"audience": "email channels deliver to subscribers"})
    if kind == Channel.Kind.DISCORD and audience == Channel.Audience.SUBSCRIBERS:
        raise ApplicationError.for_fields({"audience": "a Discord webhook is a broadcast destination"})
    if kind in (Channel.Kind.SLACK, Channel.Kind.WEBHOOK) and audience == Channel.Audience.BROADCAST:
        key = "channel" if kind == Channel.Kind.SLACK else "url"
        if not config.get(key):
            raise ApplicationError.for_fields({key: f"a broadcast {kind} channel needs `{key}`"})
    if fallback is not None and fallback.kind != kind:
        raise ApplicationError.for_fields({"fallback": "the fallback must be a channel of the same kind"})


@transaction.atomic
def channel_create(
    *,
    name: str,
    kind: str,
    audience: str = Channel.Audience.SUBSCRIBERS,
    config: dict | None = None,
    credentials: dict | None = None,
    topics=(),
    is_default: bool = False,
    rate_limit_per_second: float | None = None,
    fallback: Channel | None = None,
    tracking_enabled: bool = True,
) -> Channel:
    if kind not in ADAPTERS:
        raise ApplicationError.for_fields({"kind": f"must be one of {', '.join(ADAPTERS)}"})
    channel = Channel(
        name=name,
        kind=kind,
        audience=audience,
        config=dict(config or {}),
        credentials=dict(credentials or {}),
        is_default=is_default,
        rate_limit_per_second=rate_limit_per_second,
        fallback=fallback,
        tracking_enabled=tracking_enabled,
    )
    _validate_instance(channel)
    _save(channel)
    channel.topics.set(topics)
    return channel


@transaction.atomic
def channel_update(*, channel: Channel, credentials: dict | None = None, topics=None, **fields: Any) -> Channel:
    """Update the given fields; `credentials`, when given, replace the stored ones."""
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(unknown, "cannot be changed"))
    for name, value in fields.items():
        setattr(channel, name, value)
    if credentials is not None:
        channel.credentials = dict(credentials)
    if channel.fallback_id == channel.pk and channel.pk:
        raise ApplicationError.for_fields({"fallback": "a channel cannot be its own fallback"})
    _validate_instance(channel)
    _save(channel)
    if topics is not None:
        channel.topics.set(topics)
    return channel


def _validate_instance(channel: Channel) -> None:
    channel_validate(
        kind=channel.kind,
        audience=channel.audience,
        config=channel.config,
        credentials=channel.credentials,
        fallback=channel.fallback,
        rate_limit_per_second=channel.rate_limit_per_second,
    )


def _save(channel: Channel) -> None:
    other_default = Channel.objects.filter(kind=channel.kind, is_default=True).exclude(pk=channel.pk)
    if channel.is_default and other_default.exists():
        raise ApplicationError.for_fields({"is_default": f"another {channel.kind} channel is the default"})
    if Channel.objects.filter(name=channel.name).exclude(pk=channel.pk).exists():
        raise ApplicationError.for_fields({"name": "a channel with this name exists"})
    try:
        with transaction.atomic():
            channel.save()
    except IntegrityError as exc:
        # A concurrent request won the race for the same name or default.
        raise ApplicationError("Another change to channels happened at the same time; try again.") from exc


def channel_disable(*, channel: Channel, reason: str) -> Channel:
    """Stop using a channel whose configuration the provider refuses (editors see why in admin)."""
    Channel.objects.filter(pk=channel.pk).update(
        is_active=False, disabled_reason=reason[:2000], disabled_at=timezone.now()
    )
    channel.is_active, channel.disabled_reason = False, reason[:2000]
    logger.warning("channel %s disabled: %s", channel.pk, reason[:200])
    return channel


def channel_enable(*, channel: Channel) -> Channel:
    Channel.objects.filter(pk=channel.pk).update(is_active=True, disabled_reason="", disabled_at=None)
    channel.is_active, channel.disabled_reason = True, ""
    circuit_reset(channel)
    return channel


@dataclass(frozen=True)
class TestSendResult:
    ok: bool
    provider_message_id: str = ""
    error: str = ""
    recipient: str = ""


def channel_test_send(*, channel: Channel, actor, recipient: str = "") -> TestSendResult:
    """Send a sample through the real adapter; report the provider's confirmation or exact error.
    Changes nothing: no delivery row, no circuit or channel state."""
    recipient = channel_test_recipient(channel=channel, actor=actor, recipient=recipient)
    return channel_test_message_send(channel=channel, message=_sample_message(channel, recipient))


def channel_test_recipient(*, channel: Channel, actor, recipient: str) -> str:
    """Who a test goes to: nobody for a broadcast channel, else the given recipient (for email,
    the actor's own address by default); a field error when there is none."""
    if channel.audience == Channel.Audience.BROADCAST:
        return ""
    recipient = recipient.strip() or (getattr(actor, "email", "") if channel.kind == Channel.Kind.EMAIL else "")
    if not recipient:
        hint = {"email": "an email address", "slack": "a Slack member ID", "webhook": "a webhook URL"}[channel.kind]
        raise ApplicationError.for_fields({"recipient": f"Give {hint} to send the test to."})
    try:
        ADAPTERS[channel.kind].validate_recipient(recipient)
    except ValidationError as exc:
        raise ApplicationError.for_fields({"recipient": exc.messages})
    return recipient


def channel_test_message_send(*, channel: Channel, message: RenderedMessage) -> TestSendResult:
    """One test message through the channel's real adapter: the provider's confirmation or its
    exact error. No delivery row, no circuit or channel state."""
    try:
        [result] = adapter_for(channel).send_batch([message])
    except ProviderError as exc:
        return TestSendResult(ok=False, error=exc.message, recipient=message.recipient)
    return TestSendResult(
        ok=result.ok, provider_message_id=result.provider_message_id, error=result.error, recipient=message.recipient
    )


def _sample_message(channel: Channel, recipient: str) -> RenderedMessage:
    context = {"channel": channel}
    if channel.kind == Channel.Kind.EMAIL:
        template = MessageTemplate(
            key=f"bulletin-test-{channel.pk}",
            subject=f"Bulletin test message from {channel.name}",
            html=render_to_string("channels/email/test.html", context),
            text=render_to_string("channels/email/test.txt", context),
        )
        return RenderedMessage(0, recipient, template=template, variables={})
    text = render_to_string("channels/test.txt", context).strip()
    payload = notice_payload(kind=channel.kind, text=text, type="bulletin.test", channel=channel.name)
    return RenderedMessage(0, recipient, payload=payload)
