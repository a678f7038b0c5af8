"""Telling operators: the alert channel (GUARD_ALERT_CHANNEL, through its real adapter) and/or
the alert emails (GUARD_ALERT_EMAILS). The deliverability guard and the operations watchdog
(core.observability.ops) both speak through here."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

from channels_app.adapters import ADAPTERS, adapter_for
from channels_app.adapters.base import MessageTemplate, ProviderError, RenderedMessage
from channels_app.models import Channel
from channels_app.rendering import notice_payload

logger = logging.getLogger(__name__)


def operator_alert(*, subject: str, text: str, event_type: str) -> str:
    """Send one alert; returns where it went ("channel:<name>; email:<addresses>", or "")."""
    sent_to = []
    emailed = False
    if settings.GUARD_ALERT_CHANNEL:
        channel = Channel.objects.filter(name=settings.GUARD_ALERT_CHANNEL, is_active=True).first()
        if channel is None:
            logger.error("GUARD_ALERT_CHANNEL %r is not an active channel", settings.GUARD_ALERT_CHANNEL)
        elif _channel_alert(channel, subject, f":rotating_light: {text}", event_type):
            sent_to.append(f"channel:{channel.name}")
            # An email channel already mailed GUARD_ALERT_EMAILS: once is enough.
            emailed = ADAPTERS[channel.kind].renders_email
    if settings.GUARD_ALERT_EMAILS and not emailed:
        send_mail(
            subject=subject,
            message=text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=settings.GUARD_ALERT_EMAILS,
            fail_silently=True,
        )
        sent_to.append("email:" + ",".join(settings.GUARD_ALERT_EMAILS))
    return "; ".join(sent_to)[:200]


def _channel_alert(channel: Channel, subject: str, text: str, event_type: str) -> bool:
    if ADAPTERS[channel.kind].renders_email:
        template = MessageTemplate(key=event_type, subject=subject, html=text, text=text)
        messages = [RenderedMessage(0, email, template=template) for email in settings.GUARD_ALERT_EMAILS]
    else:
        payload = notice_payload(kind=channel.kind, text=text, type=event_type)
        recipient = "" if channel.audience == Channel.Audience.BROADCAST else channel.config.get("alert_recipient", "")
        messages = [RenderedMessage(0, recipient, payload=payload)]
    try:
        results = adapter_for(channel).send_batch(messages) if messages else []
    except ProviderError as exc:
        logger.error("alert to %s failed: %s", channel.name, exc.message)
        return False
    failed = [r.error for r in results if not r.ok]
    if failed:
        logger.error("alert to %s refused: %s", channel.name, failed[0])
    return bool(results) and not failed
