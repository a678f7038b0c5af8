"""SES feedback through SNS: store each verified notification once, apply it in a task. (The
other ESPs' tracking events are stored and retried the same way: services/esp_feedback.py.)

    webhook (verified) → provider_notification_receive: one row per SNS MessageId, task on commit
    task → provider_notification_process: anymail parses the SES event into one event per
           recipient; each updates its delivery (found by the SES MessageId, our
           provider_message_id), becomes an EngagementEvent deduplicated on (SNS MessageId,
           recipient), and bounces and complaints go to list hygiene; the guard checks the sends.

Hard or soft comes from the raw `bounce.bounceType` (Permanent = hard; Transient and
Undetermined = soft), which anymail does not normalize. SES's own open and click events are
ignored: the configuration set's open/click tracking must stay off (Bulletin tracks).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from anymail.exceptions import AnymailInsecureWebhookWarning
from anymail.signals import EventType
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from analytics.models import EngagementEvent, ProviderNotification
from analytics.services.events import DeliveryInfo, events_record
from analytics.services.hygiene import Feedback, hygiene_feedback_apply
from analytics.services.sns import sns_subscription_confirm
from channels_app.event_models import EventType as OutboundEventType
from channels_app.models import Delivery
from channels_app.services.events import event_emit
from channels_app.services.feedback import deliveries_feedback_apply
from core.safejson import UnsafeJSONError, json_loads_bounded

logger = logging.getLogger(__name__)
Status = ProviderNotification.Status
Kind = EngagementEvent.Kind

# anymail's normalized event type → (our event kind, the delivery's new state)
_APPLIED = {
    EventType.DELIVERED: (Kind.DELIVERED, Delivery.State.DELIVERED),
    EventType.BOUNCED: (Kind.BOUNCE, Delivery.State.BOUNCED),
    EventType.COMPLAINED: (Kind.COMPLAINT, Delivery.State.COMPLAINED),
    EventType.REJECTED: (Kind.REJECT, Delivery.State.FAILED),
    EventType.FAILED: (Kind.FAILED, Delivery.State.FAILED),
}


def provider_notification_receive(*, message: dict) -> tuple[ProviderNotification, bool]:
    """Store a verified SNS message once (by MessageId) and enqueue its processing on commit."""
    return provider_notification_store(
        message_id=str(message["MessageId"])[:100],
        message_type=str(message.get("Type", ""))[:40],
        topic_arn=str(message.get("TopicArn", ""))[:300],
        event_type=_event_type(message)[:40],
        body=message,
    )


def provider_notification_store(*, message_id: str, body: dict, **fields) -> tuple[ProviderNotification, bool]:
    """Any provider's notification, stored once by its id; its processing enqueued on commit
    (SNS messages here, other ESPs' tracking events in analytics.services.esp_feedback)."""
    with transaction.atomic():
        notification, created = ProviderNotification.objects.get_or_create(
            message_id=message_id, defaults={**fields, "body": body}
        )
        if created:
            transaction.on_commit(lambda: _enqueue(notification.pk))
    return notification, created


def _enqueue(notification_id: int) -> None:
    from analytics.tasks import provider_notification_process_task

    provider_notification_process_task.delay(notification_id=notification_id)


def _event_type(message: dict) -> str:
    if message.get("Type") != "Notification":
        return ""
    try:
        event = json_loads_bounded(str(message.get("Message", "")), max_depth=settings.API_MAX_JSON_DEPTH)
    except ValueError:
        return ""
    return str(event.get("eventType") or event.get("notificationType") or "") if isinstance(event, dict) else ""


@dataclass
class _Applied:
    applied: dict[str, int] = field(default_factory=dict)
    unmatched: int = 0
    ignored: int = 0
    hygiene: dict[str, int] = field(default_factory=dict)
    guard_send_ids: set[int] = field(default_factory=set)


@transaction.atomic
def provider_notification_process(*, notification_id: int, force: bool = False) -> ProviderNotification:
    """Apply one stored notification, all of it or none of it.

    Any error stays with its notification (poison isolation): what it had applied is rolled
    back, the error is recorded and provider_notifications_retry tries it again with backoff;
    after FEEDBACK_MAX_ATTEMPTS it is dead, its reason shown in admin. `force` (admin's
    "process again") runs a dead notification once more.
    """
    notification = ProviderNotification.objects.select_for_update().get(pk=notification_id)
    if notification.status in (Status.PROCESSED, Status.IGNORED) or (notification.status == Status.DEAD and not force):
        return notification
    notification.attempts += 1
    message = notification.body
    try:
        with transaction.atomic():
            if notification.provider != "amazon_ses":  # Postmark, SendGrid, Mailgun, Brevo
                from analytics.services.esp_feedback import esp_notification_apply

                esp_notification_apply(notification)
            elif notification.message_type == "SubscriptionConfirmation":
                arn = sns_subscription_confirm(message=message)
                _finish(notification, Status.PROCESSED, {"confirmed": arn})
            elif notification.message_type == "Notification":
                _notification_apply(notification, message)
            else:
                _finish(notification, Status.IGNORED, {"note": f"{notification.message_type} needs no action"})
    except Exception as exc:  # whatever one odd notification raises must not stop the others
        _fail(notification, exc)
    return notification


def _fail(notification: ProviderNotification, exc: Exception) -> None:
    dead = notification.attempts >= settings.FEEDBACK_MAX_ATTEMPTS
    logger.warning(
        "SNS notification %s not applied (attempt %s%s): %s: %s",
        notification.message_id,
        notification.attempts,
        ", dead" if dead else "",
        type(exc).__name__,
        str(exc)[:300],
    )
    notification.error = f"{type(exc).__name__}: {exc}"[:2000]
    _finish(notification, Status.DEAD if dead else Status.FAILED, notification.result)


def _retry_delay(attempts: int) -> timedelta:
    """Backoff after a failed attempt: a minute, doubling, at most an hour."""
    return timedelta(seconds=min(60 * 2 ** max(attempts - 1, 0), 3600))


def _notification_apply(notification: ProviderNotification, message: dict) -> None:
    try:
        ses_event = json_loads_bounded(str(message.get("Message", "")), max_depth=settings.API_MAX_JSON_DEPTH)
    except UnsafeJSONError as exc:  # too deep or NUL characters: nothing an SES event holds
        _finish(notification, Status.IGNORED, {"note": exc.message})
        return
    except ValueError:
        _finish(notification, Status.IGNORED, {"note": str(message.get("Message", ""))[:200]})
        return
    if not isinstance(ses_event, dict):
        _finish(notification, Status.IGNORED, {"note": "not an SES event"})
        return
    events = _parser().esp_to_anymail_events(ses_event, message)
    applied = _apply(notification, ses_event, events)
    result = {"applied": applied.applied, "unmatched": applied.unmatched, "ignored": applied.ignored}
    if applied.hygiene:
        result["hygiene"] = applied.hygiene
    young = timezone.now() - notification.received_at < timedelta(seconds=settings.FEEDBACK_UNMATCHED_RETRY_SECONDS)
    _finish(notification, Status.RETRYING if applied.unmatched and young else Status.PROCESSED, result)
    if applied.guard_send_ids:
        send_ids = sorted(applied.guard_send_ids)
        transaction.on_commit(lambda: _guard_enqueue(send_ids))


def _guard_enqueue(send_ids: list[int]) -> None:
    from analytics.tasks import guard_sends_check_task

    guard_sends_check_task.delay(send_ids=send_ids)


def _apply(notification: ProviderNotification, ses_event: dict, events: list) -> _Applied:
    applied = _Applied()
    deliveries = _deliveries({e.message_id for e in events if e.message_id})
    new_events, outcomes, infos = [], {}, {}
    for event in events:
        if event.event_type not in _APPLIED:
            applied.ignored += 1  # Send, Open, Click (SES tracking must be off), unknown
            continue
        kind, state = _APPLIED[event.event_type]
        recipient = (event.recipient or "").strip().lower()
        info = deliveries.get((event.message_id, recipient)) or deliveries.get((event.message_id, "*"))
        metadata, reason = _details(kind, ses_event, event)
        metadata["sns_message_id"] = notification.message_id
        dedupe = f"sns:{notification.message_id}:{recipient}"
        if info is None:
            applied.unmatched += 1
        else:
            infos[info.id] = info
            occurred = _occurred_at(ses_event, event, fallback=notification.received_at)
            new_events.append(
                EngagementEvent(
                    delivery_id=info.id, kind=kind, occurred_at=occurred, metadata=metadata, dedupe_key=dedupe
                )
            )
            outcomes[info.id] = (state, reason)
            applied.applied[kind] = applied.applied.get(kind, 0) + 1
            if kind in (Kind.BOUNCE, Kind.COMPLAINT):
                applied.guard_send_ids.add(info.send_id)
                _feedback_event_emit(kind, info, recipient, metadata, reason, occurred, dedupe)
        if kind in (Kind.BOUNCE, Kind.COMPLAINT) and recipient:
            feedback = Feedback(
                email=recipient,
                kind=kind,
                bounce_type=metadata.get("bounce_type", ""),
                reason=reason,
                dedupe=dedupe.removeprefix("sns:"),
                subscriber_id=info.subscriber_id if info else None,
                delivery_id=info.id if info else None,
                notification=notification,
            )
            outcome = hygiene_feedback_apply(feedback=feedback)
            applied.hygiene[outcome] = applied.hygiene.get(outcome, 0) + 1
    events_record(events=new_events, deliveries=infos)
    deliveries_feedback_apply(outcomes=outcomes)
    return applied


def _feedback_event_emit(
    kind: str, info: DeliveryInfo, recipient: str, metadata: dict, reason: str, occurred, dedupe: str
) -> None:
    """delivery.bounced / delivery.complained, once per SNS message and recipient (a reprocessed
    notification emits nothing new)."""
    data = {
        "delivery": {"id": info.id, "send_id": info.send_id, "channel_id": info.channel_id},
        "subscriber": {"id": info.subscriber_id} if info.subscriber_id else None,
        "email": recipient,
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "reason": reason,
    }
    if kind == Kind.BOUNCE:
        data["bounce_type"] = metadata.get("bounce_type", "")
        event_type = OutboundEventType.DELIVERY_BOUNCED
    else:
        data["feedback_type"] = metadata.get("feedback_type", "")
        event_type = OutboundEventType.DELIVERY_COMPLAINED
    key = f"{event_type}:{hashlib.sha256(dedupe.encode()).hexdigest()[:40]}"
    event_emit(type=event_type, data=data, subscriber_id=info.subscriber_id, dedupe_key=key)


def _details(kind: str, ses_event: dict, event) -> tuple[dict, str]:
    """Event metadata and the reason shown on the delivery and in hygiene actions."""
    if kind == Kind.BOUNCE:
        bounce = ses_event.get("bounce") or {}
        raw_type = str(bounce.get("bounceType", ""))
        subtype = str(bounce.get("bounceSubType", ""))
        metadata = {
            "bounce_type": "hard" if raw_type == "Permanent" else "soft",
            "bounce_type_raw": raw_type,
            "bounce_subtype": subtype,
            "diagnostic": (event.mta_response or "")[:500],
        }
        return metadata, f"SES {raw_type}/{subtype} bounce: {event.mta_response or 'no diagnostic'}"
    if kind == Kind.COMPLAINT:
        feedback_type = event.description or "not given"
        return {"feedback_type": feedback_type}, f"SES complaint (feedback type: {feedback_type})"
    if kind in (Kind.REJECT, Kind.FAILED):
        return {"reason": event.description or ""}, f"SES {kind}: {event.description or 'no reason given'}"
    return {"smtp_response": (event.mta_response or "")[:300]}, ""


def _occurred_at(ses_event: dict, event, *, fallback: datetime) -> datetime:
    """The SES event's own time (bounce.timestamp...), else the SNS Timestamp, else when the
    notification was received: the same on every reprocessing (events dedupe on key and time)."""
    for key in ("bounce", "complaint", "delivery", "reject", "failure"):
        stamp = (ses_event.get(key) or {}).get("timestamp")
        parsed = parse_datetime(stamp) if isinstance(stamp, str) else None
        if parsed:
            return parsed
    return event.timestamp or fallback


def _deliveries(message_ids: set[str]) -> dict[tuple[str, str], DeliveryInfo]:
    """Deliveries by (SES message id, recipient); (id, "*") when the id names only one."""
    found: dict[tuple[str, str], DeliveryInfo] = {}
    rows = Delivery.objects.filter(provider_message_id__in=message_ids).values_list(
        "pk", "send_id", "channel_id", "subscriber_id", "recipient", "provider_message_id"
    )
    counts: dict[str, int] = {}
    for pk, send_id, channel_id, subscriber_id, recipient, message_id in rows:
        info = DeliveryInfo(pk, send_id, channel_id, subscriber_id)
        found[(message_id, recipient.strip().lower())] = info
        found[(message_id, "*")] = info
        counts[message_id] = counts.get(message_id, 0) + 1
    for message_id, count in counts.items():
        if count > 1:
            del found[(message_id, "*")]
    return found


def _finish(notification: ProviderNotification, status: str, result: dict) -> None:
    notification.status = status
    notification.result = result or {}
    notification.processed_at = timezone.now()
    if status not in (Status.FAILED, Status.DEAD):
        notification.error = ""
    notification.save(update_fields=["status", "result", "processed_at", "error", "attempts"])


@functools.cache
def _parser() -> AmazonSESTrackingWebhookView:
    """anymail's SES event parser (its view, used only for esp_to_anymail_events)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AnymailInsecureWebhookWarning)
        return AmazonSESTrackingWebhookView()


def provider_notifications_retry() -> int:
    """Re-run notifications waiting for their delivery, failed ones whose backoff is over, and
    any whose task was lost, oldest first; returns how many. One failing never stops the rest."""
    now = timezone.now()
    stale = now - timedelta(seconds=60)
    due = Q(status__in=[Status.RECEIVED, Status.RETRYING], received_at__lt=stale)
    for attempts in range(1, settings.FEEDBACK_MAX_ATTEMPTS):
        due |= Q(status=Status.FAILED, attempts=attempts, processed_at__lt=now - _retry_delay(attempts))
    ids = list(ProviderNotification.objects.filter(due).order_by("received_at").values_list("pk", flat=True)[:500])
    for notification_id in ids:
        try:
            provider_notification_process(notification_id=notification_id)
        except Exception:  # e.g. the row vanished; the next notification still runs
            logger.exception("SNS notification %s could not be processed", notification_id)
    return len(ids)
