"""The deploy check for outbound connections (registered by channels_app's AppConfig.ready)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_outbound_private_targets(app_configs, **kwargs) -> list[Error]:
    if getattr(settings, "OUTBOUND_ALLOW_PRIVATE_TARGETS", False):
        return [
            Error(
                "OUTBOUND_ALLOW_PRIVATE_TARGETS is on: channels and personal webhooks could reach private, "
                "loopback and cloud-metadata addresses (SSRF).",
                hint="It is for development sinks only; unset it in production.",
                id="bulletin.E101",
            )
        ]
    return []
