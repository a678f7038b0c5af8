from __future__ import annotations

from datetime import UTC, date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from channels_app.adapters import ADAPTERS, kind_choices, personal_kind_choices
from channels_app.adapters.base import Audience as ChannelAudience
from core.crypto import EncryptedJSONField


class CircuitState(models.TextChoices):
    CLOSED = "closed", "Closed (sending)"
    OPEN = "open", "Open (provider failing, paused)"
    HALF_OPEN = "half_open", "Half-open (probing)"


class Channel(models.Model):
    """A configured destination: an SES sender, a Slack workspace or channel, a Discord
    webhook, an outbound webhook endpoint. Secrets live encrypted in `credentials`."""

    Audience = ChannelAudience

    name = models.CharField(max_length=120, unique=True)
    # The registry's kinds (channels_app.adapters): validated there, so a new kind needs no migration.
    kind = models.CharField(max_length=16, choices=kind_choices)
    audience = models.CharField(max_length=16, choices=ChannelAudience.choices, default=ChannelAudience.SUBSCRIBERS)
    is_default = models.BooleanField(
        default=False, help_text="Used for personal messages of this kind (one default per kind)."
    )
    is_active = models.BooleanField(default=True)
    disabled_reason = models.TextField(blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField(default=dict, blank=True, help_text="Non-secret settings of this kind.")
    credentials = EncryptedJSONField(help_text="Encrypted at rest; never shown.")
    topics = models.ManyToManyField(
        "subscribers.Topic", blank=True, related_name="broadcast_channels", help_text="Broadcast: topics it receives."
    )
    rate_limit_per_second = models.FloatField(
        null=True, blank=True, help_text="Ceiling of the whole account or workspace. Blank: the provider's stated one."
    )
    target_rate_per_second = models.FloatField(
        null=True,
        blank=True,
        help_text="Per conversation or destination (Slack: 1/s each). Blank: the provider's stated one.",
    )
    # Ordered fallback providers (channel ids, same kind): while this channel's circuit is open
    # (or its provider paused the account), batches go to the first of them whose circuit
    # allows. Validated by channels_app.services.routing (no self, no cycle, same kind, active).
    fallbacks = models.JSONField(
        default=list, blank=True, help_text="Channel ids, in order, used while this channel's circuit is open."
    )
    # Routing by recipient domain: [{"domain": "gmail.com", "channel": <id>}, ...]; the messages
    # of a batch whose recipient's domain matches go through that channel (its own limits,
    # circuit and fallbacks), the rest through this one.
    routes = models.JSONField(
        default=list, blank=True, help_text='[{"domain": "gmail.com", "channel": <channel id>}, ...]'
    )
    tracking_enabled = models.BooleanField(default=True, help_text="Track opens and clicks of its messages.")
    circuit_state = models.CharField(max_length=16, choices=CircuitState.choices, default=CircuitState.CLOSED)
    circuit_opened_at = models.DateTimeField(null=True, blank=True)
    circuit_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(audience__in=ChannelAudience.values), name="channel_audience_valid"),
            models.UniqueConstraint(fields=["kind"], condition=Q(is_default=True), name="channel_one_default_per_kind"),
            models.CheckConstraint(
                condition=Q(rate_limit_per_second__gt=0) | Q(rate_limit_per_second__isnull=True),
                name="channel_rate_limit_positive",
            ),
            models.CheckConstraint(
                condition=Q(target_rate_per_second__gt=0) | Q(target_rate_per_second__isnull=True),
                name="channel_target_rate_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def clean(self) -> None:
        """Which kinds exist and whom each can reach is the registry's (no database constraint
        names kinds, so adding one needs no migration); the services check it the same way."""
        adapter = ADAPTERS.get(self.kind)
        if adapter is not None and self.audience not in adapter.audiences:
            raise ValidationError({"audience": audience_problem(adapter)})


def audience_problem(adapter) -> str:
    allowed = " or ".join(str(ChannelAudience(a).label).lower() for a in sorted(adapter.audiences))
    return f"{adapter.label} channels deliver to: {allowed}"


class SendKind(models.TextChoices):
    ALERT = "alert", "Alert"
    NEWSLETTER = "newsletter", "Newsletter"
    DIGEST = "digest", "Digest"
    TEST = "test", "Test message"
    SYSTEM = "system", "System message"
    AUTOMATION = "automation", "Automation message"


class SendStatus(models.TextChoices):
    PREPARING = "preparing", "Preparing audience"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class Send(models.Model):
    """One fan-out of one message (an alert, a newsletter, a digest run) to its audience."""

    Kind = SendKind
    Status = SendStatus

    key = models.CharField(max_length=200, unique=True, help_text="Idempotency key: one send per key, ever.")
    kind = models.CharField(max_length=16, choices=SendKind.choices)
    status = models.CharField(max_length=16, choices=SendStatus.choices, default=SendStatus.PREPARING)
    high_priority = models.BooleanField(default=False, help_text="Uses the alerts queue.")
    publication = models.ForeignKey(
        "publishing.Publication", null=True, blank=True, on_delete=models.SET_NULL, related_name="sends"
    )
    subject = models.CharField(max_length=300, blank=True)
    # Message templates per channel kind, prepared once for the whole send (see rendering.py).
    content = models.JSONField(default=dict, blank=True)
    # Who receives it: topics, frequencies, channel kinds, broadcast (see publishing fan-out).
    audience = models.JSONField(default=dict, blank=True)
    # Set once every delivery row exists; a send completes only after that.
    audience_ready = models.BooleanField(default=False)
    paused_reason = models.TextField(blank=True)
    audience_size = models.PositiveIntegerField(default=0)
    # The fan-out's lease: a fan-out task holds it while it materializes the audience. A
    # started send whose audience is not ready and whose lease is free has no live fan-out (its
    # broker message was never published or was lost): the sweeper starts one (an outbox).
    fanout_lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"], name="send_status_created")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SendKind.values), name="send_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=SendStatus.values), name="send_status_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}: {self.subject or self.key}"

    @property
    def delivery_period(self) -> date:
        """The month partition of this send's deliveries (see Delivery.period)."""
        return delivery_period(self.created_at)


def delivery_period(created_at: datetime) -> date:
    """First day (UTC) of the month a send was created in."""
    return created_at.astimezone(UTC).date().replace(day=1)


class DeliveryPeriodField(models.DateField):
    """Delivery.period, filled from the delivery's send when the ORM inserts a row (save,
    bulk_create, get_or_create all call pre_save), so no ORM path can leave it out. SQL
    insert paths pass `send.delivery_period` themselves."""

    def pre_save(self, model_instance, add):
        if add and getattr(model_instance, self.attname) is None:
            setattr(model_instance, self.attname, model_instance.send.delivery_period)
        return super().pre_save(model_instance, add)


class DeliveryState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent (handed to provider)"
    DELIVERED = "delivered", "Delivered"
    BOUNCED = "bounced", "Bounced"
    COMPLAINED = "complained", "Complained"
    FAILED = "failed", "Failed (permanent)"
    DEAD = "dead", "Dead (retries exhausted)"


# States of a delivery the provider took (whatever happened after), and of one given up on.
HANDED_OVER = (DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.BOUNCED, DeliveryState.COMPLAINED)
GAVE_UP = (DeliveryState.FAILED, DeliveryState.DEAD)


# Allowed transitions of the delivery state machine.
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryState.QUEUED: frozenset({DeliveryState.SENDING, DeliveryState.FAILED, DeliveryState.DEAD}),
    DeliveryState.SENDING: frozenset(
        {DeliveryState.SENT, DeliveryState.QUEUED, DeliveryState.FAILED, DeliveryState.DEAD}
    ),
    DeliveryState.SENT: frozenset(
        {DeliveryState.DELIVERED, DeliveryState.BOUNCED, DeliveryState.COMPLAINED, DeliveryState.FAILED}
    ),
    DeliveryState.DELIVERED: frozenset({DeliveryState.BOUNCED, DeliveryState.COMPLAINED}),
    DeliveryState.BOUNCED: frozenset({DeliveryState.COMPLAINED}),
    DeliveryState.COMPLAINED: frozenset(),
    DeliveryState.FAILED: frozenset({DeliveryState.QUEUED}),  # requeue by an operator
    DeliveryState.DEAD: frozenset({DeliveryState.QUEUED}),  # requeue from the dead-letter view
}


class Delivery(models.Model):
    """One message to one recipient on one channel for one send.

    (send, channel, recipient_key) is unique, so materializing an audience twice, or a
    retried fan-out, never creates a second delivery. recipient_key is the subscriber's id
    for personal messages and 0 for a broadcast destination; it survives erasure, when
    `subscriber` becomes NULL and `recipient` is blanked.

    On PostgreSQL the table is partitioned by month on `period`, the month of its send (not of
    the row: every delivery of a send is in one partition). PostgreSQL wants the partition key
    in every unique constraint; since `period` is a function of `send`, (send, channel,
    recipient_key, period) is exactly as unique as (send, channel, recipient_key). The primary
    key in the database is (id, period); `id` alone stays unique (one identity sequence).
    Foreign keys to deliveries (events, engagement, hygiene) have no database constraint
    (PostgreSQL would need `period` in them): see docs/partitioning.md for what keeps them right.
    """

    State = DeliveryState

    # No database-level foreign keys on this table (db_constraint=False): checking them cost
    # half of every fan-out INSERT (four lookups and a row lock on the subscriber per delivery:
    # 460 of 950 ms for 20,000 rows). What they guarded is kept by the ORM, the only writer of
    # the parent tables: deleting a send deletes its deliveries, a channel with deliveries cannot
    # be deleted, an erased subscriber's deliveries lose their link (tests/channels_app/
    # test_delivery_integrity.py). Nothing deletes these parents with raw SQL.
    send = models.ForeignKey(
        Send, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False
    )
    period = DeliveryPeriodField(editable=False, help_text="The month of its send (the partition key).")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="deliveries", db_constraint=False)
    subscriber = models.ForeignKey(
        "subscribers.Subscriber",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
        db_constraint=False,
    )
    recipient_key = models.BigIntegerField()
    sent_via = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        help_text="The channel that carried it when not its own: a fallback provider or a domain route.",
    )
    recipient = models.CharField(max_length=500, blank=True, help_text="Address, member ID or URL at send time.")
    state = models.CharField(max_length=16, choices=DeliveryState.choices, default=DeliveryState.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    context = models.JSONField(null=True, blank=True, help_text="Per-recipient extras (digest items, A/B variant).")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # The claim holding (or last holding) the delivery: the batch that claimed it renews its
    # lease and releases or records it by this token, so it never touches a later claim's rows.
    lease_token = models.CharField(max_length=32, blank=True)
    # When a broker message for it was last published; the sweeper re-enqueues queued work
    # whose message cannot be in the broker any more (never published, or the broker lost it).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["send", "channel", "recipient_key", "period"], name="delivery_unique_per_recipient"
            ),
            models.CheckConstraint(condition=Q(state__in=DeliveryState.values), name="delivery_state_valid"),
        ]
        indexes = [
            # Progress of a send by state, and counts per channel and state (publication stats):
            # both answered from the index alone.
            models.Index(fields=["send", "state", "channel"], name="delivery_send_state_channel"),
            # The sweeper: queued work that is due, and expired leases.
            models.Index(fields=["next_attempt_at"], condition=Q(state="queued"), name="delivery_queued_due"),
            models.Index(fields=["lease_expires_at"], condition=Q(state="sending"), name="delivery_sending_lease"),
            models.Index(fields=["enqueued_at"], condition=Q(state="queued"), name="delivery_queued_enqueued"),
            # ESP feedback finds the delivery by the provider's message id.
            models.Index(
                fields=["provider_message_id"], condition=~Q(provider_message_id=""), name="delivery_provider_id"
            ),
            models.Index(fields=["state", "updated_at"], name="delivery_state_updated"),
        ]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} ({self.state})"

    def can_transition_to(self, state: str) -> bool:
        return state in DELIVERY_TRANSITIONS[self.state]


class DeliveryCount(models.Model):
    """Deliveries per (send, channel, state), kept by PostgreSQL itself.

    Statement-level triggers on the delivery table (migration 0005) append one row per
    (send, channel, state) a statement changed, with the signed difference: inserts only, so
    concurrent workers never wait on one another's counter rows. A send's counts are the sums
    of its rows; `delivery_counts_compact` (beat) folds them into one row per cell. Counting a
    100,000-delivery send this way reads a handful of rows instead of 100,000 index entries,
    and no code path that changes a delivery can forget to update it. Other databases (the
    embedded SQLite default) have no such triggers and count deliveries directly.
    """

    # No database foreign keys: rows are appended by triggers while a send may be being deleted;
    # compaction removes the rows of sends that are gone.
    send = models.ForeignKey(Send, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    channel = models.ForeignKey(
        Channel, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    state = models.CharField(max_length=16, choices=DeliveryState.choices)
    n = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.send_id}/{self.channel_id}/{self.state}: {self.n:+d}"


class DeadLetter(Delivery):
    """Admin's dead-letter view: deliveries in state `dead`."""

    class Meta:
        proxy = True
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters"


class TestRecipient(models.Model):
    """Where test sends may go besides the requesting user's own email: an allow-list admins keep,
    so a test of an unapproved draft never reaches an outside address someone typed in."""

    __test__ = False  # not a pytest test class, whatever its name

    kind = models.CharField(
        max_length=16, choices=personal_kind_choices, help_text="The kind of channel this address receives tests on."
    )
    address = models.CharField(
        max_length=500, help_text="An email address, a Slack member ID (U…) or a webhook URL, by kind."
    )
    note = models.CharField(max_length=200, blank=True, help_text="Whose it is, why it may receive tests.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "address"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "address"], name="testrecipient_kind_address_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.address} ({self.get_kind_display()})"


# Outbound events (webhook endpoints, the event outbox, their deliveries): a module of their own.
from channels_app.deliverability_models import (  # noqa: E402, F401
    DomainHealth,
    DomainHealthStatus,
    MailboxDomain,
    MailboxProvider,
    ProviderHold,
)
from channels_app.event_models import (  # noqa: E402, F401
    EventDelivery,
    EventDeliveryAttempt,
    EventDeliveryState,
    EventType,
    OutboundEvent,
    WebhookEndpoint,
)

# Warm-up plans of sending identities (issue 18): a module of their own.
from channels_app.warmup_models import WarmupDay, WarmupHold, WarmupPlan, WarmupStatus  # noqa: E402, F401
