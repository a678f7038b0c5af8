"""The one interface every channel kind implements (STYLE §4, healthchecks' transports).

An adapter talks to its provider and nothing else: no database, no retries, no sleeping.
It gets a chunk of messages sized for one provider call (`chunk_size`) and returns one
SendResult per message. It raises only when the whole chunk failed:
  TransientProviderError   try again later (timeouts, 5xx)
  ProviderThrottledError   the provider says "slow down" (429, throttling): pause briefly
  ProviderPausedError      the account cannot send for a while (quota, paused): open the circuit
  PermanentProviderError   the channel itself is broken (bad credentials, webhook gone): disable it
The service layer (channels_app.services) records outcomes, rate-limits and retries.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar

from core.outbound import short_reason


class ProviderError(Exception):
    def __init__(self, message: str, *, retry_after: float | None = None):
        # What a provider answered is never stored or shown beyond a short, sanitized reason.
        message = short_reason(message)
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class TransientProviderError(ProviderError):
    """The provider could not take the chunk now; the same request may succeed later."""


class ProviderThrottledError(TransientProviderError):
    """The provider says "slow down" for the whole call (429, throttling): a short pause helps."""


class ProviderPausedError(TransientProviderError):
    """The account is paused, over quota or suspended: stop sending on this channel."""


class PermanentProviderError(ProviderError):
    """The channel configuration is wrong or revoked; retrying cannot help."""


class UnsafeTargetError(PermanentProviderError):
    """The channel (or a subscriber's webhook) points at a place Bulletin may not connect to:
    not http(s), or not a public address (core.outbound)."""


class ConfigError(Exception):
    """A channel's config or credentials are invalid. `errors` maps field to messages."""

    def __init__(self, errors: Mapping[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


_VARIABLE = re.compile(r"\{\{(\{?)\s*([A-Za-z0-9_]+)\s*\}?\}\}")


@dataclass(frozen=True)
class MessageTemplate:
    """Subject/HTML/text with SES-style simple substitutions, shared by a whole send.

    `{{{var}}}` inserts the value as it is, `{{var}}` HTML-escapes it; unknown variables
    render empty. Amazon SES applies exactly these rules to inline templates, so a message
    rendered here and one rendered by SES from the same template and data are identical.
    """

    key: str
    subject: str
    html: str
    text: str

    def render(self, variables: Mapping[str, str]) -> tuple[str, str, str]:
        return (
            substitute(self.subject, variables),
            substitute(self.html, variables),
            substitute(self.text, variables),
        )


def substitute(template: str, variables: Mapping[str, Any]) -> str:
    if "{{" not in template:
        return template

    def replace(match: re.Match) -> str:
        value = variables.get(match.group(2), "")
        value = "" if value is None else str(value)
        return value if match.group(1) else escape(value)

    return _VARIABLE.sub(replace, template)


@dataclass(frozen=True)
class RenderedMessage:
    """One message for one recipient.

    Email: `template` + `variables` (rendered locally or by the provider), `headers`.
    Slack, Discord, webhooks: `payload` is the final JSON body.
    """

    delivery_id: int
    recipient: str = ""
    template: MessageTemplate | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    payload: Mapping[str, Any] | None = None
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id and not self.delivery_id:
            # No delivery to key on (a test, a guard alert): an id of its own, so receivers that
            # drop repeated webhook-ids never drop one of these as a repeat of another.
            object.__setattr__(self, "message_id", f"msg_bulletin_{uuid.uuid4().hex}")

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of the same delivery (webhook-id, Slack client_msg_id)."""
        return self.message_id or f"msg_bulletin_{self.delivery_id}"


@dataclass(frozen=True)
class SendResult:
    delivery_id: int
    ok: bool
    provider_message_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None

    @classmethod
    def sent(cls, message: RenderedMessage, provider_message_id: str = "") -> SendResult:
        return cls(message.delivery_id, True, provider_message_id=provider_message_id)

    @classmethod
    def failed(
        cls, message: RenderedMessage, error: str, *, permanent: bool, retry_after: float | None = None
    ) -> SendResult:
        return cls(message.delivery_id, False, error=short_reason(error), permanent=permanent, retry_after=retry_after)


class ChannelAdapter:
    kind: ClassVar[str]
    #: Messages per provider call; the service splits batches into chunks of this size.
    chunk_size: ClassVar[int] = 1
    #: How many chunks the service may have in flight at once (network waits overlap).
    parallelism: ClassVar[int] = 4
    #: Requests per second when the channel sets no rate of its own.
    default_rate_per_second: ClassVar[float] = 10.0
    #: Whether a subscriber may choose a daily or weekly digest on this kind (personal kinds that
    #: can show a ranked list in one message); broadcast-only kinds are never offered one.
    carries_digests: ClassVar[bool] = False

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]):
        self.config = dict(config)
        self.credentials = dict(credentials)

    @classmethod
    def validate(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        """Raise ConfigError naming each bad field."""

    @staticmethod
    def escape_text(text: str) -> str:
        """User-supplied text made inert in this kind's markup (names, titles). Most kinds parse
        none in the places we put such text; Slack does (mentions like <!channel>)."""
        return text

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        """A chat or webhook payload marked as a test, visibly to whoever receives it; `banner`
        is plain text. JSON receivers get `"test": true` (chat kinds show the banner instead)."""
        return {**payload, "test": True}

    @classmethod
    def validate_recipient(cls, recipient: str) -> None:
        """Raise django's ValidationError unless `recipient` can be a personal recipient of this
        kind (an address, a member ID, a URL). Kinds without personal recipients accept any."""

    def effective_chunk_size(self, rate_per_second: float) -> int:
        # A provider counting a per-second rate must never get more in one call than a second allows.
        return max(1, min(self.chunk_size, int(rate_per_second)))

    def send_batch(self, messages: Sequence[RenderedMessage]) -> list[SendResult]:
        return self.send_each(messages)

    def send_one(self, message: RenderedMessage) -> SendResult:
        raise NotImplementedError

    def send_each(self, messages: Sequence[RenderedMessage]) -> list[SendResult]:
        """One provider request per message, each in its own try. Once the provider says
        "slow down" (a result with retry_after), the rest of the chunk waits too."""
        results: list[SendResult] = []
        for index, message in enumerate(messages):
            result = self.send_one(message)
            results.append(result)
            if result.retry_after is not None:
                rest = messages[index + 1 :]
                results += [
                    SendResult.failed(m, result.error, permanent=False, retry_after=result.retry_after) for m in rest
                ]
                break
        return results

    def close(self) -> None:
        """Release long-lived connections (called when the channel's config changes)."""
