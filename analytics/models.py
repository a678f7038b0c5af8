from __future__ import annotations

from django.db import models
from django.db.models import Q


class EventKind(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    OPEN = "open", "Open"
    CLICK = "click", "Click"
    BOUNCE = "bounce", "Bounce"
    COMPLAINT = "complaint", "Complaint"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"
    REJECT = "reject", "Rejected by provider"
    FAILED = "failed", "Failed"


class EngagementEvent(models.Model):
    """Something that happened to a delivered message: provider feedback or subscriber action."""

    Kind = EventKind

    delivery = models.ForeignKey(
        "channels_app.Delivery", on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    # Machine opens and clicks (Apple Mail Privacy Protection, link scanners) are kept but
    # never counted as human engagement.
    is_machine = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True, help_text="link, user_agent_class, bounce_type...")
    # Provider notifications arrive more than once; (SNS message id, recipient) makes them unique.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid")]
        indexes = [
            models.Index(fields=["delivery", "occurred_at"], name="event_delivery_time"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on delivery {self.delivery_id}"
