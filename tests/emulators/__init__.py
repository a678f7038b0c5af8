"""Local servers that speak the providers' real HTTP protocols, so adapter code runs for real.

sesv2.SESv2Emulator (Amazon SES v2, for boto3 / django-anymail), slack.SlackEmulator (Slack
Web API, for slack-sdk), discord.DiscordEmulator (Discord webhooks) and
webhook.WebhookReceiver (signed outbound webhooks). Each is a context manager serving on
127.0.0.1 from a background thread, has a CLI (`python -m tests.emulators.<module>`) and the
/_emulator/ control endpoints described in base.py. pytest fixtures: fixtures.py.
"""
