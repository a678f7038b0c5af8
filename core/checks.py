"""System checks for configuration mistakes that would otherwise surface at first send.

Always: SITE_URL is an absolute URL, every FIELD_ENCRYPTION_KEY is a Fernet key.
`check --deploy` (production): an encryption key is set at all, SITE_URL is public https, and
SES is not configured without the SNS topics its feedback comes from.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Error, Tags, register

_FERNET_HINT = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


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


@register(Tags.security, deploy=True)
def check_encryption_key_set(app_configs, **kwargs):
    if [key for key in settings.FIELD_ENCRYPTION_KEYS if key.strip()]:
        return []
    return [
        Error(
            "FIELD_ENCRYPTION_KEY is not set: channel credentials cannot be stored or read "
            "(every channel request would fail).",
            hint=f"Generate one with: {_FERNET_HINT}",
            id="bulletin.E010",
        )
    ]


@register(Tags.security, deploy=True)
def check_site_url_public_https(app_configs, **kwargs):
    parsed = urlparse(settings.SITE_URL)
    errors = []
    if parsed.scheme != "https":
        errors.append(
            Error(
                "SITE_URL is not https: unsubscribe, preference and tracking links would go out in clear text.",
                hint="Set SITE_URL to the public https URL of this site, e.g. https://news.example.com.",
                id="bulletin.E011",
            )
        )
    if _is_local_host(parsed.hostname or ""):
        errors.append(
            Error(
                f"SITE_URL points at {parsed.hostname!r}: links in messages would lead to the reader's own machine.",
                hint="Set SITE_URL to the public URL of this site.",
                id="bulletin.E012",
            )
        )
    return errors


def _is_local_host(host: str) -> bool:
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost") or not host:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


@register(Tags.security, deploy=True)
def check_ses_feedback_topics(app_configs, **kwargs):
    if not _ses_configured() or settings.SNS_TOPIC_ARNS:
        return []
    return [
        Error(
            "Amazon SES is configured but SNS_TOPIC_ARNS is empty: every bounce and complaint "
            "notification would be refused, so bounced and complaining addresses keep being mailed.",
            hint="Subscribe https://<site>/anymail/amazon_ses/tracking/ to the SNS topic of your SES "
            "configuration set and list the topic's ARN in SNS_TOPIC_ARNS.",
            id="bulletin.E013",
        )
    ]


def _ses_configured() -> bool:
    anymail = getattr(settings, "ANYMAIL", {}) or {}
    return (
        "amazon_ses" in settings.EMAIL_BACKEND
        or bool(settings.SES_ENDPOINT_URL)
        or bool(anymail.get("AMAZON_SES_CONFIGURATION_SET_NAME"))
    )
