import pytest

from channels_app.models import Send
from channels_app.services.sends import send_create
from tests.factories import ChannelFactory


@pytest.fixture
def outbox_channel(db):
    return ChannelFactory(
        name="Outbox email",
        kind="email",
        is_default=True,
        config={"esp": "outbox", "from_email": "News <news@example.com>", "list_id": "lists.example.com"},
    )


@pytest.fixture
def make_subscribers(make_readers):
    """Instant email subscribers of `topic` (tests/conftest.py's make_readers)."""
    return make_readers


EMAIL_CONTENT = {
    "email": {
        "subject": "Hello {{{name}}}",
        "html": '<p>Hi {{{name_html}}}</p><a href="{{{link_0}}}">Read</a><img src="{{{open_pixel_url}}}" alt="">'
        '<a href="{{{unsubscribe_url}}}">Unsubscribe</a>',
        "text": "Hi {{{name}}}\nRead: {{{link_0}}}\nUnsubscribe: {{{unsubscribe_url}}}",
    },
    "slack": {"text": "News for {{{mention}}}: {{{link_0}}}", "blocks": []},
    "discord": {"content": "News: {{{link_0}}}"},
    "webhook": {"type": "publication", "url": "{{{link_0}}}"},
    "links": ["https://example.com/article?a=1&b=2"],
    "topic_ids": [],
    "list": {"label": "news", "name": "News"},
}


@pytest.fixture
def make_send(topic):
    def _make(key="send-1", kind=Send.Kind.ALERT, audience=None, content=None, **kwargs):
        audience = audience or {"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["email"]}
        send, _ = send_create(
            key=key, kind=kind, subject="Hello", content=content or EMAIL_CONTENT, audience=audience, **kwargs
        )
        return send

    return _make
