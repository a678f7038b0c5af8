"""pytest fixtures for the emulators: one server per session, reset before every test.

Registered in tests/conftest.py (`pytest_plugins`). Each fixture hands a test an emulator
with no records and its default options (reset() also drops requests still waiting on a
latency or hang from an earlier test). A test that needs other constructor options builds
its own: `with SESv2Emulator(store_messages=False) as ses: ...`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.base import Emulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.sesv2 import SESv2Emulator
from tests.emulators.slack import SlackEmulator
from tests.emulators.webhook import WebhookReceiver

SLACK_TOKEN = "xoxb-emulator"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _served(emulator: Emulator) -> Iterator[Emulator]:
    with emulator:
        yield emulator


@pytest.fixture(scope="session")
def _ses_emulator_server() -> Iterator[Emulator]:
    yield from _served(SESv2Emulator())


@pytest.fixture(scope="session")
def _slack_emulator_server() -> Iterator[Emulator]:
    yield from _served(SlackEmulator(token=SLACK_TOKEN))


@pytest.fixture(scope="session")
def _discord_emulator_server() -> Iterator[Emulator]:
    yield from _served(DiscordEmulator())


@pytest.fixture(scope="session")
def _webhook_receiver_server() -> Iterator[Emulator]:
    yield from _served(WebhookReceiver(secret=WEBHOOK_SECRET))


@pytest.fixture
def ses_emulator(_ses_emulator_server: SESv2Emulator) -> SESv2Emulator:
    """Amazon SES v2 at `.endpoint_url`; stores messages, no latency or rate limit."""
    _ses_emulator_server.reset()
    return _ses_emulator_server


@pytest.fixture
def slack_emulator(_slack_emulator_server: SlackEmulator) -> SlackEmulator:
    """Slack Web API at `.url` (WebClient base_url); token "xoxb-emulator", no rate limit."""
    _slack_emulator_server.reset()
    return _slack_emulator_server


@pytest.fixture
def discord_emulator(_discord_emulator_server: DiscordEmulator) -> DiscordEmulator:
    """Discord webhooks; `.webhook_url()` registers one and returns its URL."""
    _discord_emulator_server.reset()
    return _discord_emulator_server


@pytest.fixture
def webhook_receiver(_webhook_receiver_server: WebhookReceiver) -> WebhookReceiver:
    """Records requests at `.url(path)`, answers 200, checks signatures made with WEBHOOK_SECRET."""
    _webhook_receiver_server.reset()
    return _webhook_receiver_server
