"""The registry of channel kinds: one adapter class per kind (healthchecks' TRANSPORTS).

Everything that differs by kind is declared on its adapter (channels_app.adapters.base); the
rest of Bulletin loops over this registry. Adding a kind is one module and one line below.
Loaded on first use, so models can name `kind_choices` without importing every provider's SDK.

`adapter_for(channel)` returns a long-lived adapter per worker process: connections, boto3
clients and HTTP sessions are reused across batches and rebuilt when the channel changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from channels_app.adapters.base import ChannelAdapter
    from channels_app.models import Channel

REGISTRY = (
    "channels_app.adapters.email.EmailAdapter",
    "channels_app.adapters.slack.SlackAdapter",
    "channels_app.adapters.discord.DiscordAdapter",
    "channels_app.adapters.webhook.WebhookAdapter",
    "channels_app.adapters.teams.TeamsAdapter",
)


class _Registry(Mapping[str, "type[ChannelAdapter]"]):
    """kind -> adapter class, in REGISTRY order, imported on first access."""

    def __init__(self) -> None:
        self._classes: dict[str, type[ChannelAdapter]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, type[ChannelAdapter]]:
        if self._classes is None:
            with self._lock:
                if self._classes is None:
                    classes = [import_string(path) for path in REGISTRY]
                    self._classes = {adapter.kind: adapter for adapter in classes}
        return self._classes

    def __getitem__(self, kind: str) -> type[ChannelAdapter]:
        return self._load()[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


ADAPTERS = _Registry()


def kind_choices() -> list[tuple[str, str]]:
    """Channel.kind's choices (a callable: migrations keep the reference, not the list)."""
    return [(kind, adapter.label) for kind, adapter in ADAPTERS.items()]


def personal_kinds() -> list[str]:
    """Kinds that deliver to a subscriber's own address, member ID or URL."""
    return [kind for kind, adapter in ADAPTERS.items() if adapter.subscriber_field]


def personal_kind_choices() -> list[tuple[str, str]]:
    """What a subscription or a test recipient may be for, named as subscribers see it."""
    return [(kind, ADAPTERS[kind].personal_label) for kind in personal_kinds()]


def digest_kinds() -> list[str]:
    """The personal kinds that carry daily and weekly digests."""
    return [kind for kind in personal_kinds() if ADAPTERS[kind].carries_digests]


def receipt_kinds() -> list[str]:
    """Kinds whose provider reports deliveries, bounces and complaints."""
    return [kind for kind, adapter in ADAPTERS.items() if adapter.delivery_receipts]


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
