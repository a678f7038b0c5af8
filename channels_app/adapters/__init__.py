"""Channel adapters, one per Channel.Kind (healthchecks' TRANSPORTS registry).

`adapter_for(channel)` returns a long-lived adapter per worker process: connections, boto3
clients and HTTP sessions are reused across batches and rebuilt when the channel changes.
"""

from __future__ import annotations

import threading

from channels_app.adapters.base import ChannelAdapter
from channels_app.adapters.discord import DiscordAdapter
from channels_app.adapters.email import EmailAdapter
from channels_app.adapters.slack import SlackAdapter
from channels_app.adapters.webhook import WebhookAdapter
from channels_app.models import Channel

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    Channel.Kind.EMAIL: EmailAdapter,
    Channel.Kind.SLACK: SlackAdapter,
    Channel.Kind.DISCORD: DiscordAdapter,
    Channel.Kind.WEBHOOK: WebhookAdapter,
}


def digest_kinds() -> list[str]:
    """The channel kinds that carry daily and weekly digests, asked of the registry."""
    return [kind for kind, adapter in ADAPTERS.items() if adapter.carries_digests]


_cache: dict[int, tuple[object, ChannelAdapter]] = {}
_cache_lock = threading.Lock()


def adapter_for(channel: Channel) -> ChannelAdapter:
    version = (channel.updated_at, channel.kind)
    with _cache_lock:
        cached = _cache.get(channel.pk) if channel.pk else None
        if cached and cached[0] == version:
            return cached[1]
        adapter = ADAPTERS[channel.kind](config=channel.config, credentials=channel.credentials)
        if channel.pk:
            if cached:
                cached[1].close()
            _cache[channel.pk] = (version, adapter)
        return adapter


def adapters_reset() -> None:
    """Close every cached adapter (tests, and worker shutdown)."""
    with _cache_lock:
        for _, adapter in _cache.values():
            adapter.close()
        _cache.clear()
