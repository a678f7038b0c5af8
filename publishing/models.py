from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class PublicationState(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    SCHEDULED = "scheduled", "Scheduled"
    PUBLISHED = "published", "Published"
    ARCHIVED = "archived", "Archived"


class PublicationPriority(models.TextChoices):
    NORMAL = "normal", "Normal (digests)"
    ALERT = "alert", "Alert (instant)"


class Publication(models.Model):
    State = PublicationState
    Priority = PublicationPriority

    title = models.CharField(max_length=200)
    email_subject = models.CharField(max_length=300, blank=True, help_text="Subject of the email; blank: the title.")
    slug = models.SlugField(max_length=220, unique=True)
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="Markdown; sanitized when rendered.")
    canonical_url = models.URLField(max_length=500, blank=True)
    topics = models.ManyToManyField("subscribers.Topic", related_name="publications")
    # The audience: subscribers of the topics (or, with no topic, every mailable subscriber by
    # email) who are in `segment` and not in `exclude_segment`, both evaluated when it is sent.
    segment = models.ForeignKey(
        "subscribers.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="publications",
        help_text="Only subscribers in this segment.",
    )
    exclude_segment = models.ForeignKey(
        "subscribers.Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="excluded_from",
        help_text="Never subscribers in this segment.",
    )
    priority = models.CharField(max_length=16, choices=PublicationPriority.choices, default=PublicationPriority.NORMAL)
    quality_score = models.FloatField(null=True, blank=True, help_text="0 to 1, optional; used in ranking.")
    state = models.CharField(max_length=16, choices=PublicationState.choices, default=PublicationState.DRAFT)
    publish_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="publications"
    )
    # The publisher who scheduled or published it: a scheduled publication goes out in their name.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Quiet hours (issue 18): not delivered between start and end in the subscriber's zone;
    # blank: its topics' quiet hours apply. Alerts go through them only with the bypass set.
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="e.g. 21:00, subscriber's local time.")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="e.g. 08:00; deferred deliveries go then.")
    quiet_hours_bypass_alerts = models.BooleanField(
        default=False, help_text="An alert (high priority) ignores the quiet hours."
    )
    # Send-time optimization (issue 18): each subscriber at their best hour within 24 h.
    send_time_optimized = models.BooleanField(
        default=False, help_text="Newsletter: deliver at each subscriber's best hour within 24 h."
    )
    send_time_holdout_percent = models.PositiveSmallIntegerField(
        default=10, help_text="Share (0-50 %) that gets the send at once, to measure the lift."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published_at", "-created_at"]
        permissions = [("publish_publication", "Can approve, schedule and publish publications")]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=PublicationState.values), name="publication_state_valid"),
            models.CheckConstraint(
                condition=Q(priority__in=PublicationPriority.values), name="publication_priority_valid"
            ),
            models.CheckConstraint(
                condition=Q(quality_score__isnull=True) | Q(quality_score__gte=0, quality_score__lte=1),
                name="publication_quality_score_range",
            ),
            models.CheckConstraint(
                condition=~Q(state=PublicationState.PUBLISHED) | Q(published_at__isnull=False),
                name="publication_published_has_time",
            ),
        ]
        indexes = [
            # Digest candidates and the archive: published, newest first.
            models.Index(fields=["state", "published_at"], name="publication_state_published"),
            models.Index(fields=["state", "publish_at"], name="publication_state_publish_at"),
        ]

    def __str__(self) -> str:
        return self.title


class PublicationTransition(models.Model):
    """Audit trail of the editorial workflow: who moved a publication from one state to another."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=16, choices=PublicationState.choices)
    to_state = models.CharField(max_length=16, choices=PublicationState.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state}"


class DigestFrequency(models.TextChoices):
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class DigestLog(models.Model):
    """One subscriber's digest on one channel kind for one period, sent or found empty.

    (subscriber, channel kind, frequency, period, period zone) is unique: claiming a period is an INSERT ...
    ON CONFLICT DO NOTHING, so repeated or overlapping beat runs never build two digests for it
    (an email digest and a Slack digest of the same day are two periods of their own). `period`
    is the subscriber's local date of the digest (daily) or the Monday of its ISO week (weekly),
    never a UTC hour, so a repeated or skipped local hour around a DST change cannot make a
    second period or lose one. The period carries its zone: a subscriber who moves across the date
    line has local dates that overlap their old zone's, and the digest service adds the rule that
    two digests of one frequency are never closer than its period less four hours (20 hours for
    daily digests). `window_end` starts the next digest's window.
    """

    Frequency = DigestFrequency

    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="digest_logs")
    channel_kind = models.CharField(
        max_length=16, default="email", help_text="The kind of channel it came by (email, slack, webhook)."
    )
    frequency = models.CharField(max_length=8, choices=DigestFrequency.choices)
    period = models.DateField(help_text="Local date (daily) or Monday of the ISO week (weekly).")
    period_zone = models.CharField(
        max_length=64, default="UTC", help_text="The time zone the period is a local date of (the subscriber's then)."
    )
    scheduled_for = models.DateTimeField(help_text="The subscriber's local digest hour, in UTC.")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    publication_ids = models.JSONField(default=list, blank=True, help_text="Ranked items sent, best first.")
    send = models.ForeignKey(
        "channels_app.Send", null=True, blank=True, on_delete=models.SET_NULL, related_name="digest_logs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "channel_kind", "frequency", "period", "period_zone"],
                name="digestlog_one_per_kind_and_zoned_period",
            ),
            models.CheckConstraint(condition=Q(frequency__in=DigestFrequency.values), name="digestlog_frequency_valid"),
        ]
        indexes = [models.Index(fields=["subscriber", "window_end"], name="digestlog_subscriber_window")]

    def __str__(self) -> str:
        return f"{self.frequency} {self.channel_kind} digest {self.period} for subscriber {self.subscriber_id}"

    @property
    def item_count(self) -> int:
        return len(self.publication_ids or [])


class ABTestMetric(models.TextChoices):
    OPENS = "opens", "Opens"
    CLICKS = "clicks", "Clicks"


class ABTestStatus(models.TextChoices):
    DRAFT = "draft", "Waiting for the publication to be published"
    TESTING = "testing", "Testing variants"
    WINNER_SENT = "winner_sent", "Winner sent to the rest"
    CANCELLED = "cancelled", "Cancelled"


class ABTest(models.Model):
    """A subject-line test for a newsletter: each variant goes to a share of `test_fraction` of
    the email audience (one Send per variant); after `wait_minutes` the variant with the best
    human open or click rate goes to everyone else (one more Send)."""

    Metric = ABTestMetric
    Status = ABTestStatus

    publication = models.OneToOneField(Publication, on_delete=models.CASCADE, related_name="ab_test")
    metric = models.CharField(max_length=8, choices=ABTestMetric.choices, default=ABTestMetric.OPENS)
    test_fraction = models.FloatField(default=0.2, help_text="Share of the email audience in the test (0.02-0.5).")
    wait_minutes = models.PositiveIntegerField(default=60, help_text="How long the test runs before the winner goes.")
    status = models.CharField(max_length=16, choices=ABTestStatus.choices, default=ABTestStatus.DRAFT)
    decide_at = models.DateTimeField(null=True, blank=True)
    winner = models.ForeignKey("ABTestVariant", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    winner_send = models.ForeignKey(
        "channels_app.Send", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "A/B subject test"
        constraints = [
            models.CheckConstraint(condition=Q(metric__in=ABTestMetric.values), name="abtest_metric_valid"),
            models.CheckConstraint(condition=Q(status__in=ABTestStatus.values), name="abtest_status_valid"),
            models.CheckConstraint(condition=Q(test_fraction__gt=0, test_fraction__lt=1), name="abtest_fraction_range"),
        ]
        indexes = [models.Index(fields=["status", "decide_at"], name="abtest_status_decide")]

    def __str__(self) -> str:
        return f"A/B test of {self.publication}"


class ABTestVariant(models.Model):
    test = models.ForeignKey(ABTest, on_delete=models.CASCADE, related_name="variants")
    index = models.PositiveSmallIntegerField()
    subject = models.CharField(max_length=300)
    send = models.ForeignKey("channels_app.Send", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["test", "index"], name="abtestvariant_unique_index")]

    def __str__(self) -> str:
        return f"{chr(65 + self.index)}: {self.subject}"

    @property
    def label(self) -> str:
        return chr(65 + self.index)


class PublicationChecksOverride(models.Model):
    """A publisher published although pre-send checks failed: who, when, why, and which checks."""

    publication = models.ForeignKey(Publication, on_delete=models.CASCADE, related_name="checks_overrides")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField()
    # [{"name": ..., "status": ..., "message": ...}] of the checks that failed when it was overridden.
    failed_checks = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"checks overridden on {self.publication_id} by {self.actor or 'someone'}"


# Transactional messages and their templates: a module of their own.
# Editors' own settings (their time zone): a module of their own.
# Automations (issue 15): a module of their own.
from publishing.automation_models import (  # noqa: E402, F401
    Automation,
    AutomationEnrollment,
    AutomationStep,
    AutomationStepStat,
    AutomationVersion,
)
from publishing.editor_models import EditorProfile  # noqa: E402, F401

# Branding and admin-edited message layouts: a module of their own.
from publishing.layout_models import Branding, ChannelLayout, ChannelLayoutVersion  # noqa: E402, F401
from publishing.send_time_models import SendTimeAssignment  # noqa: E402, F401
from publishing.transactional_models import (  # noqa: E402, F401
    Message,
    MessageCategory,
    MessageState,
    MessageTemplate,
    MessageTemplateVersion,
)
