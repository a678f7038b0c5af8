"""Outbound events (issue 15): webhook endpoints other systems register, the outbox of events
Bulletin emits, and one delivery row per event and endpoint (with its log of attempts).

Imported by channels_app.models, so Django sees these models as channels_app's.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from channels_app.models import CircuitState
from core.crypto import EncryptedJSONField


class EventType(models.TextChoices):
    SUBSCRIBER_CREATED = "subscriber.created", "Subscriber created"
    SUBSCRIBER_CONFIRMED = "subscriber.confirmed", "Subscriber confirmed"
    SUBSCRIBER_UPDATED = "subscriber.updated", "Subscriber updated"
    SUBSCRIBER_UNSUBSCRIBED = "subscriber.unsubscribed", "Subscriber unsubscribed"
    SUBSCRIBER_SUPPRESSED = "subscriber.suppressed", "Subscriber suppressed"
    DELIVERY_BOUNCED = "delivery.bounced", "Delivery bounced"
    DELIVERY_COMPLAINED = "delivery.complained", "Delivery complained"
    PUBLICATION_PUBLISHED = "publication.published", "Publication published"
    SEND_COMPLETED = "send.completed", "Send completed"
    AUTOMATION_COMPLETED = "automation.completed", "Automation completed"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class WebhookEndpoint(models.Model):
    """Where another system wants Bulletin's events: signed (Standard Webhooks) with `secret`."""

    name = models.CharField(max_length=120, unique=True)
    url = models.URLField(max_length=500, help_text="Receives a POST per event (http(s), public address).")
    credentials = EncryptedJSONField(help_text="The signing secret (whsec_…), encrypted at rest; never shown.")
    event_types = models.JSONField(default=list, blank=True, help_text="Event types it receives.")
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    circuit_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def secret(self) -> str:
        return str(self.credentials.get("secret", ""))

    def wants(self, event_type: str) -> bool:
        return self.is_active and event_type in self.event_types


class OutboundEvent(models.Model):
    """One event, written in the transaction of the change it reports (a transactional outbox),
    so an event exists exactly when its change was committed."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    # Events of one subscriber reach each endpoint in the order they happened.
    subscriber_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # At most one event per key (a publication published, a send completed), however often asked.
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    payload = models.JSONField(help_text="The JSON body: type, timestamp, data.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class EventDeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (refused by the endpoint)"
    DEAD = "dead", "Dead (gave up retrying)"


class EventDelivery(models.Model):
    """One event to one endpoint: retried with backoff until delivered, refused or dead."""

    State = EventDeliveryState
    OPEN_STATES = (EventDeliveryState.PENDING, EventDeliveryState.SENDING)

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(OutboundEvent, on_delete=models.CASCADE, related_name="deliveries")
    # "subscriber:<id>", or "" for events no other event must wait for.
    ordering_key = models.CharField(max_length=64, blank=True)
    state = models.CharField(max_length=16, choices=EventDeliveryState.choices, default=EventDeliveryState.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "event deliveries"
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["endpoint", "event"], name="eventdelivery_once_per_endpoint")]
        indexes = [
            models.Index(
                fields=["endpoint", "next_attempt_at"],
                name="eventdelivery_due",
                condition=Q(state="pending"),
            ),
            models.Index(
                fields=["endpoint", "ordering_key", "event"],
                name="eventdelivery_open_by_key",
                condition=Q(state__in=["pending", "sending"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id} ({self.state})"


class EventDeliveryAttempt(models.Model):
    """The delivery log: every call made for a delivery and what the endpoint answered."""

    delivery = models.ForeignKey(EventDelivery, on_delete=models.CASCADE, related_name="log")
    attempted_at = models.DateTimeField()
    ok = models.BooleanField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.attempted_at:%Y-%m-%d %H:%M:%S} {self.status_code or '-'} {'ok' if self.ok else self.error[:60]}"
