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

    # No database constraint: deliveries are partitioned (see channels_app.models.Delivery).
    delivery = models.ForeignKey(
        "channels_app.Delivery", on_delete=models.CASCADE, related_name="events", db_index=False, db_constraint=False
    )
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    # Machine opens and clicks (Apple Mail Privacy Protection, link scanners) are kept but
    # never counted as human engagement.
    is_machine = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True, help_text="link, user_agent_class, bounce_type...")
    # Provider notifications arrive more than once; (SNS message id, recipient) makes them unique.
    # Tracking hits carry the id the web process gave them, so a replayed buffer inserts nothing.
    # Unique with occurred_at: on PostgreSQL the table is partitioned by month of occurred_at,
    # and a unique constraint must hold the partition key. A repeated notification or tracking
    # hit carries the same time as its first copy, so the pair is as unique as the key.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid"),
            models.UniqueConstraint(fields=["dedupe_key", "occurred_at"], name="event_dedupe_unique"),
        ]
        indexes = [
            models.Index(fields=["delivery", "occurred_at"], name="event_delivery_time"),
            models.Index(fields=["kind", "occurred_at"], name="event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on delivery {self.delivery_id}"


class NotificationStatus(models.TextChoices):
    RECEIVED = "received", "Received (waiting for a worker)"
    PROCESSED = "processed", "Processed"
    RETRYING = "retrying", "Waiting for its delivery to be recorded"
    IGNORED = "ignored", "Ignored (nothing to apply)"
    FAILED = "failed", "Failed (retried with backoff)"
    DEAD = "dead", "Dead (gave up after FEEDBACK_MAX_ATTEMPTS; see the error)"


class ProviderNotification(models.Model):
    """One verified notification from a provider (an SNS POST), stored as received.

    The webhook answers as soon as the row exists; a task applies it. SNS may deliver the
    same message twice: its MessageId is unique here, so the second POST stores nothing.
    """

    Status = NotificationStatus

    provider = models.CharField(max_length=32, default="amazon_ses")
    message_id = models.CharField(max_length=100, unique=True, help_text="SNS MessageId.")
    message_type = models.CharField(max_length=40, help_text="Notification, SubscriptionConfirmation...")
    topic_arn = models.CharField(max_length=300)
    event_type = models.CharField(max_length=40, blank=True, help_text="SES eventType: Bounce, Delivery...")
    body = models.JSONField(help_text="The SNS message as posted (signature verified).")
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.RECEIVED)
    result = models.JSONField(default=dict, blank=True, help_text="What processing changed.")
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=NotificationStatus.values), name="notification_status_valid")
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="notification_status_time")]

    def __str__(self) -> str:
        return f"{self.message_type} {self.event_type} {self.message_id}".strip()


class DeliveryEngagement(models.Model):
    """First human open and click of a delivery: unique opens and clickers survive the
    retention of raw events. Only ever moved earlier (min), so replays change nothing."""

    delivery = models.OneToOneField(
        "channels_app.Delivery",
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="engagement",
        db_constraint=False,  # deliveries are partitioned; rows of dropped months are removed with them
    )
    first_open_at = models.DateTimeField(null=True, blank=True)
    first_click_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["first_open_at"], name="deliveryengagement_open"),
            models.Index(fields=["first_click_at"], name="deliveryengagement_click"),
        ]

    def __str__(self) -> str:
        return f"engagement of delivery {self.delivery_id}"


class SubscriberEngagement(models.Model):
    """Last human open and click of a subscriber, on any channel (sunset policy, ranking)."""

    subscriber = models.OneToOneField(
        "subscribers.Subscriber", primary_key=True, on_delete=models.CASCADE, related_name="engagement"
    )
    last_open_at = models.DateTimeField(null=True, blank=True)
    last_click_at = models.DateTimeField(null=True, blank=True)
    last_engaged_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"engagement of subscriber {self.subscriber_id}"


class HygieneActionKind(models.TextChoices):
    SUPPRESSED_HARD_BOUNCE = "hard_bounce", "Suppressed: hard bounce"
    SUPPRESSED_COMPLAINT = "complaint", "Suppressed: complaint"
    SUPPRESSED_SOFT_BOUNCES = "soft_bounces", "Suppressed: repeated soft bounces"
    SOFT_BOUNCE = "soft_bounce", "Soft bounce counted"
    SUNSET_MARKED = "sunset_marked", "Sunset: marked inactive"
    SUNSET_REENGAGE = "sunset_reengage", "Sunset: re-engagement message sent"
    SUNSET_SUPPRESSED = "sunset_suppressed", "Sunset: suppressed"
    SUNSET_KEPT = "sunset_kept", "Sunset: asked to keep receiving"


class HygieneAction(models.Model):
    """Every automatic change list hygiene made to a subscriber, with its reason (admin)."""

    Kind = HygieneActionKind

    subscriber = models.ForeignKey(
        "subscribers.Subscriber", null=True, blank=True, on_delete=models.SET_NULL, related_name="hygiene_actions"
    )
    email = models.CharField(max_length=254, blank=True)
    kind = models.CharField(max_length=24, choices=HygieneActionKind.choices)
    reason = models.TextField()
    delivery = models.ForeignKey(
        "channels_app.Delivery",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,  # deliveries are partitioned; set NULL when their month is dropped
    )
    notification = models.ForeignKey(
        ProviderNotification, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Reprocessing the same notification records nothing twice (kind, SNS message id, address).
    dedupe_key = models.CharField(max_length=300, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=HygieneActionKind.values), name="hygiene_kind_valid")
        ]
        indexes = [
            models.Index(fields=["email", "kind", "created_at"], name="hygiene_email_kind_time"),
            models.Index(fields=["subscriber", "kind", "created_at"], name="hygiene_subscriber_kind"),
            models.Index(fields=["kind", "created_at"], name="hygiene_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.email})"


class GuardScope(models.TextChoices):
    SEND = "send", "Send"
    CHANNEL = "channel", "Channel (rolling window)"
    PROVIDER = "provider", "One mailbox provider of a send"


class GuardMetric(models.TextChoices):
    BOUNCE = "bounce", "Bounce rate"
    COMPLAINT = "complaint", "Complaint rate"


class GuardTrip(models.Model):
    """The deliverability guard crossed a threshold: what it measured and what it paused."""

    Scope = GuardScope
    Metric = GuardMetric

    scope = models.CharField(max_length=16, choices=GuardScope.choices)
    metric = models.CharField(max_length=16, choices=GuardMetric.choices)
    send = models.ForeignKey("channels_app.Send", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(
        "channels_app.Channel", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    mailbox_provider = models.CharField(
        max_length=16, blank=True, help_text="Scope provider: the mailbox provider whose stream was held."
    )
    rate = models.FloatField()
    threshold = models.FloatField()
    events = models.PositiveIntegerField(help_text="Bounces or complaints counted.")
    sample = models.PositiveIntegerField(help_text="Messages handed to the provider.")
    reason = models.TextField()
    paused_send_ids = models.JSONField(default=list, blank=True)
    alerted = models.CharField(max_length=200, blank=True, help_text="Where the alert went.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A send trips each metric once: resuming it is the editor's informed decision.
            models.UniqueConstraint(
                fields=["send", "metric"], condition=Q(scope="send"), name="guardtrip_once_per_send"
            ),
            models.UniqueConstraint(
                fields=["send", "mailbox_provider", "metric"],
                condition=Q(scope="provider"),
                name="guardtrip_once_per_send_provider",
            ),
            models.CheckConstraint(condition=Q(scope__in=GuardScope.values), name="guardtrip_scope_valid"),
            models.CheckConstraint(condition=Q(metric__in=GuardMetric.values), name="guardtrip_metric_valid"),
        ]
        indexes = [models.Index(fields=["channel", "metric", "created_at"], name="guardtrip_channel_time")]

    def __str__(self) -> str:
        return self.reason


class DailyRollup(models.Model):
    """Counts of one day (UTC) for one send on one channel; every report reads these.

    Unique opens and clickers are counted on the day of a delivery's first human open or
    click, so summing days (or sends of a publication) never counts a delivery twice.
    """

    day = models.DateField()
    send = models.ForeignKey("channels_app.Send", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="+")
    publication = models.ForeignKey(
        "publishing.Publication", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel_kind = models.CharField(max_length=16)
    sent = models.PositiveIntegerField(default=0)
    delivered = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0, help_text="Failed or dead (by the day they gave up).")
    opens = models.PositiveIntegerField(default=0, help_text="Human opens.")
    machine_opens = models.PositiveIntegerField(default=0)
    unique_opens = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0, help_text="Human clicks.")
    machine_clicks = models.PositiveIntegerField(default=0)
    unique_clickers = models.PositiveIntegerField(default=0)
    hard_bounces = models.PositiveIntegerField(default=0)
    soft_bounces = models.PositiveIntegerField(default=0)
    complaints = models.PositiveIntegerField(default=0)
    unsubscribes = models.PositiveIntegerField(default=0)
    rejects = models.PositiveIntegerField(default=0)
    # Publish (or send start) to hand-off, in seconds: count per upper bound (see rollups.LATENCY_BUCKETS).
    latency_buckets = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["send", "channel", "day"], name="dailyrollup_unique_cell"),
        ]
        indexes = [
            models.Index(fields=["day", "channel"], name="dailyrollup_day_channel"),
            models.Index(fields=["publication", "day"], name="dailyrollup_publication_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} send {self.send_id} channel {self.channel_id}"


class LinkRollup(models.Model):
    """Human clicks per link of a send per day (top links)."""

    day = models.DateField()
    send = models.ForeignKey("channels_app.Send", on_delete=models.CASCADE, related_name="+", db_index=False)
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.CASCADE, related_name="+")
    link_index = models.PositiveIntegerField()
    url = models.URLField(max_length=2000)
    clicks = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["send", "channel", "day", "link_index"], name="linkrollup_unique_cell"),
        ]
        indexes = [models.Index(fields=["day"], name="linkrollup_day")]

    def __str__(self) -> str:
        return f"{self.url} ({self.clicks})"


class SendTopic(models.Model):
    """Which topics a send was for (its publication's, or a digest's topic): the topic filter of reports."""

    send = models.ForeignKey("channels_app.Send", on_delete=models.CASCADE, related_name="+")
    topic = models.ForeignKey("subscribers.Topic", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["send", "topic"], name="sendtopic_unique")]

    def __str__(self) -> str:
        return f"send {self.send_id} topic {self.topic_id}"


class RollupDirtyCell(models.Model):
    """A (day, send, channel) whose rollup must be recomputed. Writers bump `touched_at`;
    the rollup task deletes a cell only if nobody touched it after it read the cell."""

    day = models.DateField()
    send_id = models.BigIntegerField()
    channel_id = models.BigIntegerField()
    touched_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "send_id", "channel_id"], name="dirtycell_unique")]

    def __str__(self) -> str:
        return f"{self.day} send {self.send_id} channel {self.channel_id}"


class AnalyticsCursor(models.Model):
    """Where an incremental scan (sent deliveries, unsubscribes) last got to."""

    name = models.CharField(max_length=64, primary_key=True)
    position = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class Dashboard(DailyRollup):
    """Admin's analytics dashboard (a proxy so it sits in the Analytics section with view permission)."""

    class Meta:
        proxy = True
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"


class EngagementTierSnapshot(models.Model):
    """How many active subscribers were in each engagement tier on a day (UTC), written by the
    nightly score update: the analytics API's counts per tier over time."""

    day = models.DateField()
    tier = models.CharField(max_length=16)
    count = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["day", "tier"]
        constraints = [models.UniqueConstraint(fields=["day", "tier"], name="tiersnapshot_unique_day_tier")]

    def __str__(self) -> str:
        return f"{self.day} {self.tier}: {self.count}"
