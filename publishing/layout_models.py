"""Branding and message layouts edited in admin (issue 16 item 3). Imported by publishing.models.

The files in templates/channels/<kind>/ stay the defaults: a layout saved here overrides one
of them (for every topic, or for one topic), and each edit is a new version, so a send records
the exact layout version it was rendered with and an earlier version can be restored."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

HEX_COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour as #rrggbb, e.g. #1d4ed8.")


class Branding(models.Model):
    """The one row (pk 1) of the publication's look; blank fields fall back to the settings."""

    site_name = models.CharField(max_length=100, blank=True, help_text="Blank: the SITE_NAME setting.")
    sender_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="The name at the top of every message and in its footer. Blank: the site name.",
    )
    logo = models.ImageField(
        upload_to="branding/", blank=True, help_text="PNG or JPEG, shown 40 px high at the top of emails."
    )
    primary_colour = models.CharField(
        max_length=7, default="#1d4ed8", validators=[HEX_COLOUR], help_text="Header, links and buttons."
    )
    footer_text = models.TextField(blank=True, max_length=1000, help_text="A line above the postal address.")
    postal_address = models.TextField(
        blank=True, max_length=500, help_text="Required in marketing email (CAN-SPAM). Blank: the setting."
    )
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "branding"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="branding_single_row")]

    def __str__(self) -> str:
        return "Branding"


class ChannelLayout(models.Model):
    """An admin-edited version of one message template of one channel kind, for every topic
    (topic empty) or one topic. Its text lives in versions; `current_version` is in use."""

    kind = models.CharField(max_length=16, help_text="The channel kind (email, slack, discord, webhook...).")
    name = models.CharField(max_length=40, help_text="The template it replaces, e.g. publication.html.")
    topic = models.ForeignKey(
        "subscribers.Topic",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="layouts",
        help_text="Blank: every topic without a layout of its own.",
    )
    current_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name", "topic__slug"]
        constraints = [
            models.UniqueConstraint(fields=["kind", "name", "topic"], name="layout_unique_per_topic"),
            models.UniqueConstraint(
                fields=["kind", "name"], condition=Q(topic__isnull=True), name="layout_unique_for_all_topics"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.topic.name if self.topic_id else 'all topics'})"


class ChannelLayoutVersion(models.Model):
    layout = models.ForeignKey(ChannelLayout, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    source = models.TextField()
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["layout", "-version"]
        constraints = [models.UniqueConstraint(fields=["layout", "version"], name="layoutversion_unique")]

    def __str__(self) -> str:
        return f"{self.layout} v{self.version}"
