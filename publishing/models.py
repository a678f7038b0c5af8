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
    slug = models.SlugField(max_length=220, unique=True)
    summary = models.TextField(blank=True)
    body = models.TextField(blank=True, help_text="Markdown; sanitized when rendered.")
    canonical_url = models.URLField(max_length=500, blank=True)
    topics = models.ManyToManyField("subscribers.Topic", related_name="publications")
    priority = models.CharField(max_length=16, choices=PublicationPriority.choices, default=PublicationPriority.NORMAL)
    quality_score = models.FloatField(null=True, blank=True, help_text="0 to 1, optional; used in ranking.")
    state = models.CharField(max_length=16, choices=PublicationState.choices, default=PublicationState.DRAFT)
    publish_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="publications"
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
