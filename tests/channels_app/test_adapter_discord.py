"""DiscordAdapter: webhook POSTs with ?wait=true, against the Discord emulator."""

import pytest

from channels_app.adapters.base import PermanentProviderError, RenderedMessage, TransientProviderError
from channels_app.adapters.discord import DiscordAdapter
from channels_app.adapters.http import UnsafeTargetError


def _adapter(url):
    return DiscordAdapter(config={"username": "Bulletin"}, credentials={"url": url})


def _message(i=1, **payload):
    return RenderedMessage(i, "", payload=payload or {"content": "Release 2.4 is out"})


def test_a_message_is_posted_and_discords_message_id_recorded(discord_emulator):
    url = discord_emulator.webhook_url()
    [result] = _adapter(url).send_batch([_message()])
    assert result.ok
    [posted] = discord_emulator.messages()
    assert result.provider_message_id == posted["message_id"]
    assert posted["username"] == "Bulletin"
    assert posted["payload"]["allowed_mentions"] == {"parse": []}


def test_embeds_are_fitted_to_discords_limits(discord_emulator):
    embeds = [{"title": "t" * 400, "description": "d" * 5000} for _ in range(12)]
    [result] = _adapter(discord_emulator.webhook_url()).send_batch([_message(content="c" * 2500, embeds=embeds)])
    assert result.ok, result.error
    [posted] = discord_emulator.messages()
    assert len(posted["content"]) <= 2000 and len(posted["embeds"]) <= 10
    assert sum(len(e.get("title", "")) + len(e.get("description", "")) for e in posted["embeds"]) <= 6000


def test_a_deleted_webhook_disables_the_channel_and_is_not_retried(discord_emulator):
    url = discord_emulator.webhook_url()
    discord_emulator.delete_webhook(url)
    with pytest.raises(PermanentProviderError, match="404"):
        _adapter(url).send_batch([_message(1), _message(2)])
    assert sum(discord_emulator.stats()["requests"].values()) == 1


def test_429_carries_discords_retry_after_and_holds_the_rest(discord_emulator):
    url = discord_emulator.webhook_url()
    discord_emulator.configure(fail_next={"count": 1, "status": 429, "retry_after": 2.5})
    results = _adapter(url).send_batch([_message(1), _message(2)])
    assert [(r.ok, r.retry_after) for r in results] == [(False, 2.5), (False, 2.5)]


def test_server_errors_are_transient_for_the_message(discord_emulator):
    discord_emulator.configure(fail_next={"count": 1, "status": 502})
    [result] = _adapter(discord_emulator.webhook_url()).send_batch([_message()])
    assert not result.ok and not result.permanent


def test_an_unreachable_webhook_is_transient(discord_emulator):
    discord_emulator.configure(down="close")
    with pytest.raises(TransientProviderError):
        _adapter(discord_emulator.webhook_url()).send_batch([_message()])


def test_private_targets_are_refused_unless_allowed(settings):
    settings.OUTBOUND_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTargetError, match="private address"):
        _adapter("http://127.0.0.1:9/api/webhooks/1/x").send_batch([_message()])


def test_a_payload_asking_for_mentions_is_still_sent_with_none_allowed(discord_emulator):
    """A per-topic template (or any payload) cannot turn pings back on: names and titles are user text."""
    message = _message(content="@everyone new release", allowed_mentions={"parse": ["everyone", "users"]})
    [result] = _adapter(discord_emulator.webhook_url()).send_batch([message])
    assert result.ok
    [posted] = discord_emulator.messages()
    assert posted["payload"]["allowed_mentions"] == {"parse": []}
