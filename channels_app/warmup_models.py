"""Warm-up of a sending identity (issue 18): a channel, or a channel while its From address is in
one domain, sends at most a daily cap that grows along a schedule (services/warmup.py).

Imported by channels_app.models, so Django sees these models as channels_app's.
"""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


def default_warmup_schedule() -> list[int]:
    """30 days from 50 to 3,000 a day, each day the same factor more (a geometric ramp)."""
    first, last, days = 50, 3000, 30
    factor = (last / first) ** (1 / (days - 1))
    return [round(first * factor**day) for day in range(days - 1)] + [last]


class WarmupStatus(models.TextChoices):
    ACTIVE = "active", "Warming up"
    PAUSED = "paused", "Paused (no cap)"
    COMPLETED = "completed", "Completed (no cap)"


class WarmupPlan(models.Model):
    """The schedule of one identity and where it stands on it (`step`: index of today's cap)."""

    Status = WarmupStatus

    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="warmup_plans")
    from_domain = models.CharField(
        max_length=253,
        blank=True,
        help_text="Blank: the whole channel. A domain: only while the channel's From address is in it.",
    )
    status = models.CharField(max_length=16, choices=WarmupStatus.choices, default=WarmupStatus.ACTIVE)
    schedule = models.JSONField(
        default=default_warmup_schedule, help_text="Daily caps, one per step (e.g. [50, 100, 200, ...])."
    )
    step = models.PositiveIntegerField(default=0, help_text="Index in the schedule of the current day's cap.")
    bounce_threshold = models.FloatField(
        default=0.05,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="A day above: hold back a step.",
    )
    complaint_threshold = models.FloatField(
        default=0.001,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="A day above: hold back a step.",
    )
    day = models.DateField(null=True, blank=True, help_text="The UTC day `released` counts (the current one).")
    released = models.PositiveIntegerField(default=0, help_text="Deliveries let out on `day`.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["channel", "from_domain"], name="warmup_one_plan_per_identity"),
            models.CheckConstraint(condition=Q(status__in=WarmupStatus.values), name="warmup_status_valid"),
        ]

    def __str__(self) -> str:
        return f"warm-up of {self.channel_id}{' / ' + self.from_domain if self.from_domain else ''}"

    @property
    def cap(self) -> int:
        return int(self.schedule[min(self.step, len(self.schedule) - 1)])


class WarmupDay(models.Model):
    """One finished day of a plan: what went out, how it fared, and what it did to the schedule."""

    class Decision(models.TextChoices):
        ADVANCED = "advanced", "Advanced a step"
        HELD_BACK = "held_back", "Held back a step"
        STAYED = "stayed", "Stayed (nothing sent)"
        COMPLETED = "completed", "Completed the schedule"

    plan = models.ForeignKey(WarmupPlan, on_delete=models.CASCADE, related_name="days")
    day = models.DateField()
    cap = models.PositiveIntegerField()
    released = models.PositiveIntegerField()
    sent = models.PositiveIntegerField(default=0)
    bounced = models.PositiveIntegerField(default=0)
    complained = models.PositiveIntegerField(default=0)
    decision = models.CharField(max_length=16, choices=Decision.choices)

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["plan", "day"], name="warmup_one_row_per_day")]

    def __str__(self) -> str:
        return f"{self.plan} on {self.day}: {self.decision}"


class WarmupHold(models.Model):
    """A delivery waiting for room under its identity's daily cap; `not_before` is when it was
    due anyway (quiet hours, send time), restored when it is let out."""

    delivery = models.OneToOneField(
        "channels_app.Delivery", primary_key=True, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False
    )
    plan = models.ForeignKey(WarmupPlan, on_delete=models.CASCADE, related_name="holds")
    not_before = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["plan"], name="warmup_hold_plan")]

    def __str__(self) -> str:
        return f"delivery {self.delivery_id} held by {self.plan}"
