"""Transactional messages (issue 15 item 3): admin-managed, versioned message templates, and one
message to one subscriber or address sent from one of them. Imported by publishing.models."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class MessageTemplate(models.Model):
    """A named template on one channel. Its text lives in versions: an edit adds a version, so a
    message always names the exact text it was sent with."""

    name = models.SlugField(max_length=80, unique=True, help_text="What API callers name it by, e.g. password-reset.")
    description = models.CharField(max_length=300, blank=True)
    channel = models.ForeignKey(
        "channels_app.Channel",
        on_delete=models.PROTECT,
        related_name="message_templates",
        help_text="The email channel it is sent through.",
    )
    current_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def current(self) -> MessageTemplateVersion | None:
        if not hasattr(self, "_current"):
            self._current = self.versions.filter(version=self.current_version).first()
        return self._current

    @property
    def subject(self) -> str:
        return self.current.subject if self.current else ""

    @property
    def body(self) -> str:
        return self.current.body if self.current else ""


class MessageTemplateVersion(models.Model):
    template = models.ForeignKey(MessageTemplate, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown with merge fields: {{ subscriber.name }}, {{ data.<key> }}.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-version"]
        constraints = [models.UniqueConstraint(fields=["template", "version"], name="templateversion_unique")]

    def __str__(self) -> str:
        return f"{self.template_id} v{self.version}"


class MessageCategory(models.TextChoices):
    # Sent to a suppressed address (unsubscribed, inactive, by hand) too: the person needs it.
    SECURITY = "security", "Security (password reset, sign-in code, new device)"
    ACCOUNT = "account", "Account (receipts, billing, legal notices about their account)"
    # Suppression applies as for any message.
    GENERAL = "general", "General"


class MessageState(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


class Message(models.Model):
    """One transactional message to one recipient."""

    Category = MessageCategory
    State = MessageState

    public_id = models.CharField(max_length=40, unique=True, default=new_message_id, editable=False)
    template_version = models.ForeignKey(MessageTemplateVersion, on_delete=models.PROTECT, related_name="messages")
    channel = models.ForeignKey("channels_app.Channel", on_delete=models.PROTECT, related_name="+")
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to = models.EmailField(max_length=254)
    category = models.CharField(max_length=16, choices=MessageCategory.choices, default=MessageCategory.GENERAL)
    data = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=16, choices=MessageState.choices, default=MessageState.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    provider_message_id = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    # Idempotency: one message per caller and key; the request's fingerprint tells a replay from a
    # different request reusing the key.
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(
                fields=["updated_at"], name="message_open_updated", condition=Q(state__in=["queued", "sending"])
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                name="message_idempotency_key_unique",
                condition=Q(idempotency_key__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_id} to {self.to} ({self.state})"
