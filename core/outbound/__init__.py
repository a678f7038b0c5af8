"""Every outbound connection Bulletin makes to a place named by data (channel configs,
subscribers' webhook URLs, SES endpoints, SMTP hosts) goes through this package.

- addresses: which addresses are public, and `create_connection`, which resolves once, checks
  and connects to the checked address (no DNS-rebinding window).
- http: `OutboundSession` (requests), pinned connections, no redirects, proxies or huge bodies.
- slack: `GuardedWebClient` (slack-sdk over a pinned urllib opener).
- aws: `route_through` (a boto3 client's calls sent through an OutboundSession).
- smtp: `EmailBackend` (Django's SMTP backend over pinned smtplib connections).
- reasons: short, sanitized reasons for what a provider answered.
- checks: the deploy check refusing OUTBOUND_ALLOW_PRIVATE_TARGETS.
"""

from __future__ import annotations

from core.outbound.addresses import TargetRefused, check_host, create_connection, resolver_override
from core.outbound.reasons import http_reason, sanitize_url, short_reason

__all__ = [
    "TargetRefused",
    "check_host",
    "create_connection",
    "http_reason",
    "resolver_override",
    "sanitize_url",
    "short_reason",
]
