"""Feedback from the anymail ESPs other than SES (Postmark, SendGrid, Mailgun, Brevo), through
anymail's normalized tracking events, into the same ingestion as SES's:

    webhook (verified per channel, analytics.esp_webhooks) → anymail's `tracking` signal
    → esp_tracking_event_receive: one ProviderNotification per event (unique per ESP event id,
      else per payload digest, so a redelivered POST stores nothing new), task on commit
    → provider_notification_process (analytics.services.feedback) → esp_notification_apply:
      the delivery found by its provider message id (what the ESP answered on send), an
      EngagementEvent, the delivery's state, list hygiene for bounces and complaints, the guard.

anymail's normalized types map as SES's do (delivered, bounced, complained, rejected, failed);
deferrals and queued are not outcomes. Hard or soft comes from each ESP's raw event, which
anymail does not normalize. Opens and clicks count only on a channel whose own tracking is off
(otherwise Bulletin's pixel and links count them, and the ESP's would count them twice). An
unsubscribe the ESP reports stops what the message stood for, as its one-click link does.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from anymail.signals import AnymailTrackingEvent, EventType, tracking
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from analytics.models import EngagementEvent, ProviderNotification
from analytics.services.events import DeliveryInfo, events_record
from analytics.services.feedback import provider_notification_store
from analytics.services.hygiene import Feedback, hygiene_feedback_apply
from analytics.services.useragents import user_agent_classify
from channels_app.models import Channel, Delivery

logger = logging.getLogger(__name__)
Kind = EngagementEvent.Kind
Status = ProviderNotification.Status
MESSAGE_TYPE = "TrackingEvent"
ESP_NAMES = {"postmark": "Postmark", "sendgrid": "SendGrid", "mailgun": "Mailgun", "brevo": "Brevo"}
_ENGAGEMENT = {EventType.OPENED: Kind.OPEN, EventType.CLICKED: Kind.CLICK}


def esp_tracking_event_receive(sender, event: AnymailTrackingEvent, esp_name: str, channel: Channel | None = None, **_):
    """anymail's `tracking` signal: store the event for its channel (events without one, from a
    view that is not ours, are not ours to apply)."""
    if channel is None:
        logger.warning("anymail %s tracking event without a channel ignored", esp_name)
        return
    esp_tracking_event_store(channel=channel, event=event)


def esp_tracking_event_store(*, channel: Channel, event: AnymailTrackingEvent) -> tuple[ProviderNotification, bool]:
    esp = str(channel.config.get("esp", ""))
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    identity = event.event_id or json.dumps(raw, sort_keys=True, default=str)
    # The ESP's event id (or the event itself) once per ESP: the same event posted again, or to
    # a second channel on the same ESP account, is applied once.
    key = f"{esp}:{hashlib.sha256(str(identity).encode()).hexdigest()[:48]}"
    body = {"channel_id": channel.pk, "event": _normalized(event), "esp_event": raw}
    return provider_notification_store(
        message_id=key,
        body=body,
        provider=esp,
        message_type=MESSAGE_TYPE,
        topic_arn="",
        event_type=str(event.event_type or "")[:40],
    )


def _normalized(event: AnymailTrackingEvent) -> dict:
    names = ("event_type", "message_id", "recipient", "event_id", "reject_reason", "description", "mta_response")
    data = {name: (str(getattr(event, name)) if getattr(event, name) is not None else None) for name in names}
    data["timestamp"] = event.timestamp.isoformat() if event.timestamp else None
    data["click_url"] = event.click_url
    data["user_agent"] = event.user_agent
    return data


def esp_notification_apply(notification: ProviderNotification) -> None:
    """Apply one stored ESP event (inside provider_notification_process's transaction)."""
    from analytics.services.feedback import _APPLIED, _Applied, _deliveries, _finish, _guard_enqueue

    body, esp = notification.body, notification.provider
    event, raw = body.get("event") or {}, body.get("esp_event") or {}
    event_type, recipient = event.get("event_type"), (event.get("recipient") or "").strip().lower()
    message_id = event.get("message_id") or ""
    known = event_type in _APPLIED or event_type in _ENGAGEMENT or event_type == EventType.UNSUBSCRIBED
    if not known:
        _finish(notification, Status.IGNORED, {"note": f"{ESP_NAMES.get(esp, esp)} {event_type} needs no action"})
        return
    found = _deliveries({message_id}) if message_id else {}
    info = found.get((message_id, recipient)) or found.get((message_id, "*"))
    applied = _Applied()
    if event_type in _ENGAGEMENT:
        _engagement_apply(notification, event, info, applied)
    elif event_type == EventType.UNSUBSCRIBED:
        _unsubscribe_apply(notification, event, info, applied)
    else:
        _outcome_apply(notification, event, raw, info, applied, _APPLIED[event_type])
    result = {"applied": applied.applied, "unmatched": applied.unmatched, "ignored": applied.ignored}
    if applied.hygiene:
        result["hygiene"] = applied.hygiene
    young = timezone.now() - notification.received_at < timedelta(seconds=settings.FEEDBACK_UNMATCHED_RETRY_SECONDS)
    _finish(notification, Status.RETRYING if applied.unmatched and young else Status.PROCESSED, result)
    if applied.guard_send_ids:
        send_ids = sorted(applied.guard_send_ids)
        transaction.on_commit(lambda: _guard_enqueue(send_ids))


def _outcome_apply(notification, event: dict, raw: dict, info: DeliveryInfo | None, applied, mapped) -> None:
    """Delivered, bounced, complained, rejected, failed: as SES's (feedback._apply)."""
    from channels_app.services.feedback import deliveries_feedback_apply

    kind, state = mapped
    recipient = (event.get("recipient") or "").strip().lower()
    metadata, reason = _details(notification.provider, kind, event, raw)
    dedupe = f"esp:{notification.message_id}:{recipient}"
    if info is None:
        applied.unmatched += 1
    else:
        _record(notification, info, kind, event, metadata, dedupe)
        deliveries_feedback_apply(outcomes={info.id: (state, reason)})
        applied.applied[kind] = 1
        if kind in (Kind.BOUNCE, Kind.COMPLAINT):
            applied.guard_send_ids.add(info.send_id)
    if kind in (Kind.BOUNCE, Kind.COMPLAINT) and recipient:
        feedback = Feedback(
            email=recipient,
            kind=kind,
            bounce_type=metadata.get("bounce_type", ""),
            reason=reason,
            dedupe=dedupe.removeprefix("esp:"),
            subscriber_id=info.subscriber_id if info else None,
            delivery_id=info.id if info else None,
            notification=notification,
        )
        outcome = hygiene_feedback_apply(feedback=feedback)
        applied.hygiene[outcome] = 1


def _engagement_apply(notification, event: dict, info: DeliveryInfo | None, applied) -> None:
    if info is None:
        applied.unmatched += 1
        return
    if Channel.objects.filter(pk=info.channel_id, tracking_enabled=True).exists():
        applied.ignored += 1  # Bulletin's own pixel and links count this channel's opens and clicks
        return
    kind = _ENGAGEMENT[event["event_type"]]
    agent = user_agent_classify(event.get("user_agent") or "")
    metadata = {"ua_class": agent.name, "source": notification.provider}
    if kind == Kind.CLICK and event.get("click_url"):
        metadata["link"] = str(event["click_url"])[:2000]
    _record(notification, info, kind, event, metadata, f"esp:{notification.message_id}", machine=agent.is_machine)
    applied.applied[kind] = 1


def _unsubscribe_apply(notification, event: dict, info: DeliveryInfo | None, applied) -> None:
    from channels_app.rendering import message_unsubscribe_scope
    from subscribers.models import ConsentRecord
    from subscribers.services.consent import ConsentContext
    from subscribers.services.unsubscribe import subscriber_unsubscribe

    if info is None:
        applied.unmatched += 1
        return
    dedupe = f"esp:{notification.message_id}"
    _record(notification, info, Kind.UNSUBSCRIBE, event, {"source": notification.provider}, dedupe)
    applied.applied[Kind.UNSUBSCRIBE] = 1
    delivery = Delivery.objects.select_related("send", "channel", "subscriber").get(pk=info.id)
    if delivery.subscriber is None:
        return
    content = delivery.send.content or {}
    scope = message_unsubscribe_scope(kind=delivery.channel.kind, content=content, context=delivery.context)
    esp = ESP_NAMES.get(notification.provider, notification.provider)
    context = ConsentContext(method=ConsentRecord.Method.SYSTEM, source=f"Unsubscribe reported by {esp}")
    subscriber_unsubscribe(subscriber=delivery.subscriber, scope=scope, context=context)


def _record(notification, info: DeliveryInfo, kind: str, event: dict, metadata: dict, dedupe: str, machine=False):
    metadata = {**metadata, "notification": notification.message_id}
    row = EngagementEvent(
        delivery_id=info.id,
        kind=kind,
        occurred_at=_occurred_at(event, fallback=notification.received_at),
        is_machine=machine,
        metadata=metadata,
        dedupe_key=dedupe[:200],
    )
    events_record(events=[row], deliveries={info.id: info})


def _occurred_at(event: dict, *, fallback: datetime) -> datetime:
    """The provider's time of the event, else when its notification was received: the same on
    every reprocessing, so (dedupe_key, occurred_at) finds the event recorded before."""
    stamp = parse_datetime(event["timestamp"]) if isinstance(event.get("timestamp"), str) else None
    return stamp or fallback


def _details(esp: str, kind: str, event: dict, raw: dict) -> tuple[dict, str]:
    """Event metadata and the reason shown on the delivery and in hygiene actions."""
    name = ESP_NAMES.get(esp, esp)
    diagnostic = event.get("mta_response") or event.get("description") or ""
    code = ((raw.get("event-data") or {}).get("delivery-status") or {}).get("code") if esp == "mailgun" else None
    if code and not diagnostic.startswith(str(code)):
        diagnostic = f"{code} {diagnostic}".strip()  # Mailgun gives the SMTP code apart
    if kind == Kind.BOUNCE:
        hard, raw_type = bounce_classify(esp, raw)
        metadata = {
            "bounce_type": "hard" if hard else "soft",
            "bounce_type_raw": raw_type,
            "diagnostic": diagnostic[:500],
        }
        return metadata, f"{name} {raw_type or 'bounce'}: {diagnostic or 'no diagnostic'}"
    if kind == Kind.COMPLAINT:
        return {"feedback_type": event.get("reject_reason") or "spam"}, f"{name} complaint"
    if kind in (Kind.REJECT, Kind.FAILED):
        why = event.get("description") or event.get("reject_reason") or diagnostic or "no reason given"
        return {"reason": why[:500]}, f"{name} {kind}: {why}"
    return {"smtp_response": diagnostic[:300]}, ""


def bounce_classify(esp: str, raw: dict) -> tuple[bool, str]:
    """(hard, the ESP's own bounce type) from its raw event: Postmark's Type (HardBounce; a
    suppression because of one), SendGrid's type (bounce; "blocked" is temporary), Mailgun's
    severity (permanent; temporary ones arrive as deferrals), Brevo's event (hard_bounce,
    invalid_email)."""
    if esp == "postmark":
        raw_type = str(raw.get("Type") or raw.get("SuppressionReason") or "")
        return raw_type == "HardBounce", raw_type
    if esp == "sendgrid":
        raw_type = str(raw.get("type") or "bounce")
        return raw_type == "bounce", raw_type
    if esp == "mailgun":
        severity = str((raw.get("event-data") or {}).get("severity") or "")
        return severity == "permanent", f"{severity} failure".strip()
    if esp == "brevo":
        raw_type = str(raw.get("event") or "")
        return raw_type in ("hard_bounce", "invalid_email"), raw_type
    return False, ""


def esp_tracking_connect() -> None:
    tracking.connect(esp_tracking_event_receive, dispatch_uid="bulletin-esp-tracking")
