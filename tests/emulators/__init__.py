"""Local servers that speak the providers' real HTTP protocols, so adapter code runs for real.

SESv2Emulator (Amazon SES v2, for boto3 / django-anymail), SlackEmulator (Slack Web API, for
slack-sdk), DiscordEmulator (Discord webhooks) and WebhookReceiver (signed outbound webhooks).
Each is a context manager serving on 127.0.0.1 from a background thread, has a CLI
(`python -m tests.emulators.<module>`) and the /_emulator/ control endpoints of base.py.
pytest fixtures: tests/emulators/fixtures.py.
"""

from tests.emulators.discord import DiscordEmulator
from tests.emulators.sesv2 import SESv2Emulator
from tests.emulators.slack import SlackEmulator
from tests.emulators.webhook import WebhookReceiver

__all__ = ["DiscordEmulator", "SESv2Emulator", "SlackEmulator", "WebhookReceiver"]
