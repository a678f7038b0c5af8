"""pytest fixtures for the emulators: one server per session, reset before every test.

Registered in tests/conftest.py (`pytest_plugins`). Each fixture hands a test an emulator
with no records and its default options (reset() also drops requests still waiting on a
latency or hang from an earlier test). A test that needs other constructor options builds
its own: `with SESv2Emulator(store_messages=False) as ses: ...`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.emulators.base import Emulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.esps import ESP_EMULATORS
from tests.emulators.sesv2 import SESv2Emulator
from tests.emulators.slack import SlackEmulator
from tests.emulators.smtp import SMTPServer
from tests.emulators.webhook import WebhookReceiver

SLACK_TOKEN = "xoxb-emulator"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks spec's example secret


def reset_per_test(name: str, make: Callable[[], Emulator], doc: str) -> tuple[Any, Any]:
    """A session-scoped server `_<name>_server` and the function-scoped fixture `name` that resets it."""

    def server() -> Iterator[Emulator]:
        with make() as emulator:
            yield emulator

    def fresh(request: pytest.FixtureRequest) -> Emulator:
        emulator = request.getfixturevalue(f"_{name}_server")
        emulator.reset()
        return emulator

    fresh.__doc__ = doc
    return pytest.fixture(scope="session", name=f"_{name}_server")(server), pytest.fixture(name=name)(fresh)


_ses_server, ses_emulator = reset_per_test(
    "ses_emulator", SESv2Emulator, "Amazon SES v2 at `.endpoint_url`; stores messages, no latency or rate limit."
)
_slack_server, slack_emulator = reset_per_test(
    "slack_emulator",
    lambda: SlackEmulator(token=SLACK_TOKEN),
    f"Slack Web API at `.url` (WebClient base_url); token {SLACK_TOKEN!r}, no rate limit.",
)
_discord_server, discord_emulator = reset_per_test(
    "discord_emulator", DiscordEmulator, "Discord webhooks; `.webhook_url()` registers one and returns its URL."
)
_webhook_server, webhook_receiver = reset_per_test(
    "webhook_receiver",
    lambda: WebhookReceiver(secret=WEBHOOK_SECRET),
    "Records requests at `.url(path)`, answers 200, checks signatures made with WEBHOOK_SECRET.",
)
_smtp_server, smtp_server = reset_per_test(
    "smtp_server", SMTPServer, "A plain SMTP server (aiosmtpd) at `.host`/`.port`; `.messages()`, `.connections()`."
)


def _esp_fixtures(esp: str) -> tuple[Any, Any]:
    return reset_per_test(
        f"{esp}_emulator", ESP_EMULATORS[esp], f"{esp}'s send API at `.api_url`; `.channel_settings()` for a channel."
    )


_postmark_server, postmark_emulator = _esp_fixtures("postmark")
_sendgrid_server, sendgrid_emulator = _esp_fixtures("sendgrid")
_mailgun_server, mailgun_emulator = _esp_fixtures("mailgun")
_brevo_server, brevo_emulator = _esp_fixtures("brevo")


@pytest.fixture(scope="session")
def _dns_server() -> Iterator[Any]:
    from tests.emulators.dns_server import DnsServer

    server = DnsServer().start()
    yield server
    server.stop()


@pytest.fixture
def dns_server(_dns_server, settings) -> Any:
    """The local authoritative DNS server (tests/emulators/dns_server.py), empty, and every
    lookup Bulletin makes pointed at it (DNS_NAMESERVERS, DNS_PORT)."""
    _dns_server.clear()
    settings.DNS_NAMESERVERS, settings.DNS_PORT, settings.DNS_TIMEOUT_SECONDS = (
        [_dns_server.host],
        _dns_server.port,
        2.0,
    )
    return _dns_server
