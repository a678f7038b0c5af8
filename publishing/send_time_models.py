"""Send-time optimization (issue 18): for each delivery of an optimized newsletter, which group
it was in and when it was due. Imported by publishing.models."""

from __future__ import annotations

from django.db import models


class SendTimeGroup(models.TextChoices):
    OPTIMIZED = "optimized", "At the best hour"
    HOLDOUT = "holdout", "Holdout (at once)"


class SendTimeSource(models.TextChoices):
    SUBSCRIBER = "subscriber", "The subscriber's own opens and clicks"
    COHORT = "cohort", "Subscribers in the same time zone"
    AUDIENCE = "audience", "Everyone"
    DEFAULT = "default", "No engagement yet (default hour)"


class SendTimeAssignment(models.Model):
    delivery = models.OneToOneField(
        "channels_app.Delivery", primary_key=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    send = models.ForeignKey("channels_app.Send", on_delete=models.CASCADE, related_name="send_time_assignments")
    group = models.CharField(max_length=16, choices=SendTimeGroup.choices)
    hour = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Local hour (0-23) it was aimed at.")
    source = models.CharField(max_length=16, choices=SendTimeSource.choices, blank=True)
    scheduled_for = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["send", "group"], name="sendtime_send_group")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id}: {self.group} at {self.scheduled_for:%Y-%m-%d %H:%M}"
