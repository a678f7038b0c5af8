import email
from email import policy

import pytest

from core.roles import Role
from tests.factories import ChannelFactory, PublicationFactory


@pytest.fixture
def outbox(settings, tmp_path):
    """The local outbox of the email channel: outbox() lists the messages, oldest first."""
    settings.BULLETIN_OUTBOX_DIR = tmp_path / "outbox"

    def _messages():
        files = sorted((tmp_path / "outbox").glob("*.eml")) if (tmp_path / "outbox").is_dir() else []
        return [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]

    return _messages


@pytest.fixture
def email_channel(db, outbox):
    return ChannelFactory(
        name="Outbox email",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "News <news@example.com>"},
    )


@pytest.fixture
def editor(make_user):
    return make_user(Role.EDITOR, first_name="Eddie", last_name="Editor")


@pytest.fixture
def publisher(make_user):
    return make_user(Role.PUBLISHER, first_name="Pat", last_name="Publisher")


@pytest.fixture
def draft(topic, editor):
    return PublicationFactory(
        title="Quarterly results",
        summary="Numbers went up.",
        body="# Results\n\nRead [the report](https://example.com/report?q=1&r=2).",
        author=editor,
        topics=[topic],
    )


@pytest.fixture
def ses_channel(ses_emulator):
    """The default email channel, on Amazon SES (the emulator), fast enough for any test."""
    return ChannelFactory(
        name="SES",
        kind="email",
        is_default=True,
        rate_limit_per_second=1000,
        config={
            "esp": "amazon_ses",
            "from_email": "news@example.com",
            "endpoint_url": ses_emulator.endpoint_url,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "x", "aws_secret_access_key": "x"},
    )
