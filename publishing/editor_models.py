"""Per-editor settings: the time zone admin shows and reads times in."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EditorProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="editor_profile")
    time_zone = models.CharField(
        max_length=64, help_text="IANA name, e.g. Europe/Paris: admin shows and reads times in it."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone}"
