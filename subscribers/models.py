from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from channels_app.adapters import personal_kind_choices
from core.indexes import PortableGinIndex

# Every subscriber has an email address: the kind the subscribe form, imports and double opt-in
# subscribe to. Whatever else differs by kind is the channel registry's (channels_app.adapters).
EMAIL_KIND = "email"


def email_hash(email: str) -> str:
    """Stable fingerprint of an address: kept after erasure so it is never mailed again."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class Topic(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Shown on the subscribe page and the archive.")
    tracking_enabled = models.BooleanField(
        default=True, help_text="Track opens and clicks of this topic's messages (off: links go straight out)."
    )
    digest_segment = models.ForeignKey(
        "Segment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="digest_topics",
        help_text="Digests carry this topic's publications only to subscribers in this segment.",
    )
    # Quiet hours (issue 18) of the topic's publications that set none of their own.
    quiet_hours_start = models.TimeField(null=True, blank=True, help_text="e.g. 21:00, subscriber's local time.")
    quiet_hours_end = models.TimeField(null=True, blank=True, help_text="e.g. 08:00; deferred deliveries go then.")
    quiet_hours_bypass_alerts = models.BooleanField(
        default=False, help_text="An alert (high priority) ignores the quiet hours."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SubscriberStatus(models.TextChoices):
    PENDING = "pending", _("Pending confirmation")
    ACTIVE = "active", _("Active")
    UNSUBSCRIBED = "unsubscribed", _("Unsubscribed")
    BOUNCED = "bounced", _("Bounced")
    COMPLAINED = "complained", _("Complained")


class Frequency(models.TextChoices):
    INSTANT = "instant", _("Instant")
    DAILY = "daily", _("Daily digest")
    WEEKLY = "weekly", _("Weekly digest")
    OFF = "off", _("Off")


class Subscriber(models.Model):
    Status = SubscriberStatus

    email = models.EmailField(max_length=254, help_text="Stored lower-case; unique regardless of case.")
    name = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    timezone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Paris.")
    locale = models.CharField(max_length=16, default="en")
    attributes = models.JSONField(default=dict, blank=True)
    digest_hour = models.PositiveSmallIntegerField(
        default=8, validators=[MaxValueValidator(23)], help_text="Local hour (0-23) for daily and weekly digests."
    )
    digest_weekday = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(6)], help_text="Weekday of weekly digests, 0 = Monday."
    )
    slack_member_id = models.CharField(max_length=32, blank=True, help_text="Slack member ID for direct messages.")
    webhook_url = models.URLField(
        max_length=500, blank=True, help_text="Personal webhook (a Discord webhook or any endpoint)."
    )
    engagement_score = models.FloatField(default=0.0)
    paused_until = models.DateTimeField(null=True, blank=True, help_text="No messages until this time.")
    # Bumped to revoke every preference link issued so far.
    token_version = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=64, blank=True, help_text="How they joined: form, api, import, admin.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    last_confirmation_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="subscriber_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=SubscriberStatus.values), name="subscriber_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(digest_hour__lte=23), name="subscriber_digest_hour_range"),
            models.CheckConstraint(condition=models.Q(digest_weekday__lte=6), name="subscriber_digest_weekday_range"),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="subscriber_status_created"),
            models.Index(fields=["created_at"], name="subscriber_created"),
            # Segments: equality, "in" and "exists" conditions on custom attributes (@> and ?).
            PortableGinIndex(fields=["attributes"], name="subscriber_attributes_gin"),
            # Segments by engagement tier among those who can be mailed.
            models.Index(
                fields=["engagement_score"], condition=models.Q(status="active"), name="subscriber_active_score"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_mailable(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def engagement_tier(self) -> str:
        """new, active, at_risk or dormant (thresholds: subscribers/engagement.py)."""
        from django.utils import timezone

        from subscribers.engagement import engagement_tier

        return engagement_tier(score=self.engagement_score, created_at=self.created_at, now=timezone.now())


class Subscription(models.Model):
    """A subscriber's choice for one topic on one kind of channel."""

    Frequency = Frequency

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="subscriptions")
    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="subscriptions")
    # Where a subscriber can receive personal messages: the registry's personal kinds (SPEC §2).
    channel_kind = models.CharField(max_length=16, choices=personal_kind_choices, default=EMAIL_KIND)
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.INSTANT)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "topic", "channel_kind"], name="subscription_unique_per_kind"
            ),
            models.CheckConstraint(
                condition=models.Q(frequency__in=Frequency.values), name="subscription_frequency_valid"
            ),
        ]
        indexes = [
            # The audience of a topic: WHERE topic_id = ? AND channel_kind = ? AND frequency = ?
            models.Index(
                fields=["topic", "channel_kind", "frequency"], include=["subscriber"], name="subscription_audience"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscriber_id} → {self.topic_id} ({self.channel_kind}, {self.frequency})"


class ConsentRecord(models.Model):
    """Proof of consent and of every change to it: when, how, from where, with what wording."""

    class Action(models.TextChoices):
        SUBSCRIBED = "subscribed", "Subscribed (pending confirmation)"
        CONFIRMED = "confirmed", "Confirmed (double opt-in)"
        IMPORTED = "imported", "Imported"
        CREATED_CONFIRMED = "created_confirmed", "Created confirmed by a publisher"
        PREFERENCES_CHANGED = "preferences_changed", "Preferences changed"
        UNSUBSCRIBED = "unsubscribed", "Unsubscribed"

    class Method(models.TextChoices):
        FORM = "form", "Subscribe form"
        LINK = "link", "Link in a message"
        ONE_CLICK = "one_click", "One-click (RFC 8058)"
        MAILTO = "mailto", "Unsubscribe email (List-Unsubscribe mailto)"
        API = "api", "API"
        IMPORT = "import", "CSV import"
        ADMIN = "admin", "Admin"
        SYSTEM = "system", "System"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consent_records")
    action = models.CharField(max_length=32, choices=Action.choices)
    method = models.CharField(max_length=16, choices=Method.choices)
    source = models.CharField(max_length=255, blank=True, help_text="Page, API client or file.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True)
    wording = models.TextField(blank=True, help_text="The exact text the person agreed to.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["subscriber", "created_at"], name="consent_subscriber_time")]

    def __str__(self) -> str:
        return f"{self.action} via {self.method}"


class SuppressionReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    SOFT_BOUNCE = "soft_bounce", "Repeated soft bounces"
    COMPLAINT = "complaint", "Complaint"
    MANUAL = "manual", "Added manually"
    ERASED = "erased", "Erased (GDPR)"
    INACTIVE = "inactive", "No engagement (sunset policy)"

    @classmethod
    def lifted_by_new_consent(cls) -> tuple[str, ...]:
        """Reasons the subscriber's own new opt-in lifts: they chose to leave, or stopped reading.
        Bounces, complaints, manual blocks and erasures stay whatever the address asks for."""
        return (cls.UNSUBSCRIBED, cls.INACTIVE)


class Suppression(models.Model):
    """An address that must never be selected into an audience again."""

    Reason = SuppressionReason

    email = models.EmailField(max_length=254, blank=True, help_text="Blank once erased; the hash remains.")
    email_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["email"], name="suppression_email")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(reason__in=SuppressionReason.values), name="suppression_reason_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email or f"(erased) {self.email_hash[:12]}"


class ImportJobStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


class ImportJob(models.Model):
    """One CSV import: the uploaded bytes until a worker has read them, progress and outcome.

    The file lives in the database rather than on disk so any worker on any machine can run it;
    it is cleared once processed (it holds personal data we no longer need).
    """

    Status = ImportJobStatus

    filename = models.CharField(max_length=255)
    source = models.BinaryField(default=b"", editable=False)
    topics = models.ManyToManyField(Topic, blank=True, related_name="+", help_text="Added to every imported row.")
    column_map = models.JSONField(
        default=dict, blank=True, help_text="CSV column -> custom field key, for columns not named like the field."
    )
    status = models.CharField(max_length=16, choices=ImportJobStatus.choices, default=ImportJobStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0, help_text="New subscribers.")
    updated_count = models.PositiveIntegerField(
        default=0, help_text="Existing subscribers whose name/attributes changed."
    )
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="Suppressed or unsubscribed: left alone.")
    duplicate_count = models.PositiveIntegerField(default=0, help_text="Repeats of an earlier row of the file.")
    error_count = models.PositiveIntegerField(default=0)
    error_report = models.TextField(blank=True, help_text="CSV: row, email, error.")
    message = models.TextField(blank=True, help_text="Why the whole job failed.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ImportJobStatus.values), name="importjob_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} ({self.filename})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.COMPLETED:
            return 100
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date (YYYY-MM-DD)"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"


class SubscriberField(models.Model):
    """An admin-defined custom attribute: the type every write of `Subscriber.attributes[key]`
    is checked against (imports, API, preference centre) and that segments compare with."""

    Type = FieldType

    key = models.CharField(
        max_length=50,
        unique=True,
        validators=[
            RegexValidator(r"^[a-z](_?[a-z0-9])*$", "Lower-case letters, digits and single _, starting with a letter.")
        ],
        help_text="The attribute's key, e.g. company; merge field {{ subscriber.attributes.company }}.",
    )
    label = models.CharField(max_length=120)
    type = models.CharField(max_length=16, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="Choice fields: the allowed values.")
    default = models.JSONField(null=True, blank=True, help_text="Used in messages when a subscriber has no value.")
    subscriber_editable = models.BooleanField(
        default=False, help_text="Subscribers may edit it on their preference centre."
    )
    help_text = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.CheckConstraint(condition=models.Q(type__in=FieldType.values), name="field_type_valid")]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"


class Segment(models.Model):
    """A saved, named, live filter over subscribers: a validated JSON tree (subscribers.segments)
    compiled to one SQL query each time it is used, never a copied list."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(help_text="The filter tree; see subscribers/segments/rules.py.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
