"""Helpers for the Celery broker, embedded (filesystem) or Redis."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings


def is_embedded_broker() -> bool:
    return settings.CELERY_BROKER_URL.startswith("filesystem://")


def ensure_embedded_broker_folders() -> None:
    """kombu's filesystem transport expects its folders to exist."""
    if not is_embedded_broker():
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
