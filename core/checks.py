"""System checks for configuration mistakes that would otherwise surface at first send."""

from __future__ import annotations

from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_site_url(app_configs, **kwargs):
    parsed = urlparse(settings.SITE_URL)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return [
            Error("SITE_URL must be an absolute http(s) URL; links in messages are built from it.", id="bulletin.E001")
        ]
    return []


@register()
def check_encryption_keys(app_configs, **kwargs):
    from cryptography.fernet import Fernet

    errors = []
    for key in settings.FIELD_ENCRYPTION_KEYS:
        try:
            Fernet(key.strip().encode())
        except ValueError:
            errors.append(Error("FIELD_ENCRYPTION_KEY holds a value that is not a Fernet key.", id="bulletin.E002"))
    return errors
