"""Outbound events: webhook endpoints (admin role) and emitting events into the outbox.

Services that change something other systems care about call `event_emit` inside their own
transaction: the event and one EventDelivery per interested endpoint are written with the
change, so a rolled-back change emits nothing and a committed one cannot lose its event. After
commit a worker is asked to deliver (channels_app.services.event_delivery); the beat sweep
delivers anything that message missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from channels_app.adapters.webhook import WebhookAdapter, generate_secret
from channels_app.event_models import (
    EventDelivery,
    EventType,
    OutboundEvent,
    WebhookEndpoint,
)
from core.clock import clock
from core.exceptions import ApplicationError
from core.roles import Role, role_require

logger = logging.getLogger(__name__)

_EDITABLE = {"name", "url", "event_types", "is_active", "secret"}


# --- endpoints ----------------------------------------------------------------------------------


def _endpoint_errors(*, name: str, url: str, event_types: Any, secret: str | None) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not str(name).strip():
        errors["name"] = "Give the endpoint a name."
    # The rule of a webhook channel's URL: http(s), public addresses only (core.outbound).
    url_error = WebhookAdapter.config_fields["url"].problem(url) if url else "Give the endpoint's URL."
    if url_error:
        errors["url"] = url_error
    if not isinstance(event_types, list) or not event_types:
        errors["event_types"] = "Choose at least one event type."
    else:
        unknown = sorted({str(t) for t in event_types} - set(EventType.values))
        if unknown:
            errors["event_types"] = f"Unknown event types: {', '.join(unknown)}. Known: {', '.join(EventType.values)}."
    if secret is not None:
        problem = WebhookAdapter.check({}, {"secret": secret}).get("secret")
        if problem:
            errors["secret"] = f"Must be {problem} (leave it out to have one generated)."
    return errors


def webhook_endpoint_validate(
    *, name: str, url: str, event_types: Any, secret: str | None = None, exclude_pk: int | None = None
) -> None:
    """Raise ApplicationError naming every bad field (admin's form asks this before saving)."""
    errors = _endpoint_errors(name=name, url=url, event_types=event_types, secret=secret)
    if WebhookEndpoint.objects.filter(name=name).exclude(pk=exclude_pk).exists():
        errors.setdefault("name", "An endpoint with this name exists.")
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid webhook endpoint")


@transaction.atomic
def webhook_endpoint_create(
    *, actor, name: str, url: str, event_types: list[str], secret: str | None = None, is_active: bool = True
) -> WebhookEndpoint:
    """A new endpoint; without `secret` one is generated (shown once, in the create answer)."""
    role_require(actor, Role.ADMIN, "Managing webhook endpoints")
    webhook_endpoint_validate(name=name, url=url, event_types=event_types, secret=secret)
    endpoint = WebhookEndpoint(
        name=name,
        url=url,
        event_types=sorted(set(event_types)),
        is_active=is_active,
        credentials={"secret": secret or generate_secret()},
    )
    _save(endpoint)
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, actor, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    """Change the given fields; a new `secret` replaces the old one. Re-activating clears the reason."""
    role_require(actor, Role.ADMIN, "Managing webhook endpoints")
    unknown = set(fields) - _EDITABLE
    if unknown:
        raise ApplicationError.for_fields(dict.fromkeys(sorted(unknown), "cannot be changed"))
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    merged = {
        "name": fields.get("name", endpoint.name),
        "url": fields.get("url", endpoint.url),
        "event_types": fields.get("event_types", endpoint.event_types),
        "secret": fields.get("secret"),
    }
    webhook_endpoint_validate(**merged, exclude_pk=endpoint.pk)
    endpoint.name, endpoint.url = merged["name"], merged["url"]
    endpoint.event_types = sorted(set(merged["event_types"]))
    if merged["secret"]:
        endpoint.credentials = {"secret": merged["secret"]}
    if "is_active" in fields:
        endpoint.is_active = bool(fields["is_active"])
        if endpoint.is_active:
            endpoint.disabled_reason = ""
    _save(endpoint)
    if endpoint.is_active:
        transaction.on_commit(lambda: event_deliveries_kick(endpoint_ids=[endpoint.pk]))
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, actor, endpoint: WebhookEndpoint) -> None:
    """The endpoint, its pending deliveries and its log go."""
    role_require(actor, Role.ADMIN, "Managing webhook endpoints")
    endpoint.delete()


def webhook_endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    """The endpoint refused for good (410 Gone, a refused target): stop until an admin re-enables it."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False, disabled_reason=reason[:2000])
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason[:200])


def _save(endpoint: WebhookEndpoint) -> None:
    try:
        with transaction.atomic():
            endpoint.save()
    except IntegrityError as exc:
        raise ApplicationError.for_fields({"name": "An endpoint with this name exists."}) from exc


# --- emitting -----------------------------------------------------------------------------------


def _interested(event_type: str) -> list[int]:
    # A handful of endpoints at most: filtered here, which works on SQLite as on PostgreSQL.
    rows = WebhookEndpoint.objects.filter(is_active=True).values_list("pk", "event_types")
    return [pk for pk, types in rows if event_type in (types or [])]


def event_emit(
    *,
    type: str,
    data: dict[str, Any],
    subscriber_id: int | None = None,
    dedupe_key: str | None = None,
) -> OutboundEvent | None:
    """Write one event and its deliveries in the caller's transaction (nothing when no active
    endpoint wants `type`, or when `dedupe_key` was emitted before)."""
    endpoint_ids = _interested(type)
    if not endpoint_ids:
        return None
    now = clock.now()
    event = OutboundEvent(type=type, subscriber_id=subscriber_id, dedupe_key=dedupe_key, created_at=now)
    event.payload = {"type": type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    try:
        with transaction.atomic():
            event.save()
    except IntegrityError:
        return None  # emitted already (dedupe_key)
    key = f"subscriber:{subscriber_id}" if subscriber_id else ""
    EventDelivery.objects.bulk_create(
        [
            EventDelivery(
                endpoint_id=pk, event=event, ordering_key=key, next_attempt_at=now, created_at=now, updated_at=now
            )
            for pk in endpoint_ids
        ]
    )
    transaction.on_commit(lambda: event_deliveries_kick(endpoint_ids=endpoint_ids))
    return event


def subscriber_events_emit_bulk(
    *, type: str, subscriber_ids: Sequence[int], extra: dict[int, dict[str, Any]] | None = None
) -> int:
    """One event per subscriber (an import's new subscribers, an automation's finishers), written
    in bulk; `extra` adds data per subscriber id. Returns how many."""
    endpoint_ids = _interested(type)
    if not endpoint_ids or not subscriber_ids:
        return 0
    from subscribers.models import Subscriber

    now = clock.now()
    stamp = now.isoformat().replace("+00:00", "Z")
    events = [
        OutboundEvent(
            type=type,
            subscriber_id=subscriber.pk,
            created_at=now,
            payload={
                "type": type,
                "timestamp": stamp,
                "data": {"subscriber": subscriber_data(subscriber), **(extra or {}).get(subscriber.pk, {})},
            },
        )
        for subscriber in Subscriber.objects.filter(pk__in=subscriber_ids).order_by("pk")
    ]
    OutboundEvent.objects.bulk_create(events)
    EventDelivery.objects.bulk_create(
        [
            EventDelivery(
                endpoint_id=pk,
                event=event,
                ordering_key=f"subscriber:{event.subscriber_id}",
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            for event in events
            for pk in endpoint_ids
        ]
    )
    transaction.on_commit(lambda: event_deliveries_kick(endpoint_ids=endpoint_ids))
    return len(events)


def event_deliveries_kick(*, endpoint_ids: Iterable[int]) -> None:
    """Ask a worker to deliver now. Failing to ask loses nothing: the beat sweep delivers."""
    from channels_app.tasks import event_deliveries_send_task

    for pk in sorted(set(endpoint_ids)):
        try:
            event_deliveries_send_task.delay(endpoint_id=pk)
        except Exception as exc:  # broker away: the sweep (every few seconds) picks it up
            logger.warning("could not enqueue event delivery for endpoint %s: %s", pk, exc)


# --- what events carry --------------------------------------------------------------------------


def subscriber_data(subscriber) -> dict[str, Any]:
    return {
        "id": subscriber.pk,
        "email": subscriber.email,
        "name": subscriber.name,
        "status": subscriber.status,
        "locale": subscriber.locale,
        "timezone": subscriber.timezone,
        "attributes": subscriber.attributes,
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
    }


def subscriber_event_emit(*, type: str, subscriber, **extra: Any) -> OutboundEvent | None:
    return event_emit(type=type, data={"subscriber": subscriber_data(subscriber), **extra}, subscriber_id=subscriber.pk)


def publication_published_emit(*, publication, send_ids: Sequence[int] = ()) -> OutboundEvent | None:
    data = {
        "publication": {
            "id": publication.pk,
            "title": publication.title,
            "summary": publication.summary,
            "canonical_url": publication.canonical_url,
            "priority": publication.priority,
            "topics": sorted(publication.topics.values_list("slug", flat=True)),
            "published_at": _iso(publication.published_at),
        },
        "send_ids": list(send_ids),
    }
    return event_emit(
        type=EventType.PUBLICATION_PUBLISHED, data=data, dedupe_key=f"publication.published:{publication.pk}"
    )


def outbound_events_scrub(*, subscriber_id: int) -> int:
    """GDPR erasure: events about the person keep only their id (undelivered ones too)."""
    scrubbed = 0
    for event in OutboundEvent.objects.filter(subscriber_id=subscriber_id).only("pk", "payload", "type"):
        event.payload = {**event.payload, "data": {"subscriber": {"id": subscriber_id, "erased": True}}}
        event.save(update_fields=["payload"])
        scrubbed += 1
    return scrubbed


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
