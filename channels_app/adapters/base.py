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

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from channels_app.adapters.fields import ConfigField, config_errors
from core.outbound import short_reason


class Audience(models.TextChoices):
    # Personal deliveries to each subscriber's own address, member ID or webhook URL.
    SUBSCRIBERS = "subscribers", "Subscribers (personal messages)"
    # The channel itself is the destination (a Slack channel, a Discord webhook, a partner
    # endpoint); it receives every publication of the topics bound to it.
    BROADCAST = "broadcast", "Broadcast destination"


@dataclass(frozen=True)
class Limits:
    """A provider's rate limits as it states them (https://brandur.org/rate-limiting, GCRA).

    `per_second` (with `burst`) is the ceiling of the whole account: a Slack workspace, an SES
    account and region, a Discord or Teams webhook; every channel on that account shares it
    (`ChannelAdapter.account_key`). `per_target_per_second` limits each destination apart: one
    Slack conversation. Every worker shares both through Redis (channels_app.ratelimit).
    """

    per_second: float
    burst: float | None = None  # None: one second's worth
    per_target_per_second: float | None = None
    per_target_burst: float = 1.0


@dataclass(frozen=True)
class DemoChannel:
    """A channel `make run` loads, pointing at the local sink of its kind (core.sinks)."""

    name: str
    audience: str
    config: Mapping[str, Any]
    credentials: Mapping[str, Any] = field(default_factory=dict)
    is_default: bool = False


@dataclass(frozen=True)
class SinkAnswer:
    """How the kind's provider answers a success: what the local sink replies."""

    status: int = 204
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


def digest(*parts: Any) -> str:
    """A short, stable name for secret-bearing values (tokens, webhook URLs) in Redis keys."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:20]


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
    # The sender's display name for this send (publishing's branding); blank: the channel's own.
    from_name: str = ""

    def render(self, variables: Mapping[str, str]) -> tuple[str, str, str]:
        return (
            substitute(self.subject, variables),
            substitute(self.html, variables),
            substitute(self.text, variables),
        )


def variable_names(template: str) -> set[str]:
    """The names `substitute` would fill in `template`."""
    return {match.group(2) for match in _VARIABLE.finditer(template)}


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
    """One channel kind: what it needs, whom it can reach, how its messages look, how fast its
    provider lets it send, and the sending itself. The rest of Bulletin asks the registry
    (channels_app.adapters) instead of naming kinds."""

    kind: ClassVar[str]
    label: ClassVar[str]
    #: One line for admin's "add channel" page.
    description: ClassVar[str] = ""
    #: The provider's own documentation of what these settings are and where to find them.
    docs_url: ClassVar[str] = ""
    audiences: ClassVar[frozenset[str]] = frozenset({Audience.BROADCAST})
    #: config and credentials (`secret=True`); the schema services check and admin's form shows.
    config_fields: ClassVar[Mapping[str, ConfigField]] = {}
    #: The field naming a broadcast channel's destination, required when it broadcasts.
    broadcast_field: ClassVar[str] = ""
    #: Credentials may carry names the declaration does not list (anymail's per-ESP settings).
    open_credentials: ClassVar[bool] = False
    # Personal messages: the Subscriber column with each person's address, and its names.
    subscriber_field: ClassVar[str] = ""
    personal_label: ClassVar[str] = ""
    #: How subscriber pages say "on this kind" ("by email"), translated as a whole phrase.
    delivered_by: ClassVar[str] = ""
    address_label: ClassVar[str] = ""
    carries_digests: ClassVar[bool] = False
    #: Messages are emails (subject, HTML, text: a MessageTemplate) rather than JSON payloads.
    renders_email: ClassVar[bool] = False
    #: The provider reports deliveries, bounces and complaints back (analytics' feedback).
    delivery_receipts: ClassVar[bool] = False
    #: How merge-field values are escaped in this kind's JSON payload (publishing.merge):
    #: "" raw (JSON-escaped anyway), or "slack" (& < > made inert in Slack's markup).
    merge_flavour: ClassVar[str] = ""
    #: How admin's compose preview shows a message: "email", "slack", "discord" or "json".
    preview: ClassVar[str] = "json"
    limits: ClassVar[Limits] = Limits(per_second=10.0)
    #: Messages per provider call; the service splits batches into chunks of this size.
    chunk_size: ClassVar[int] = 1
    #: How many chunks the service may have in flight at once (network waits overlap).
    parallelism: ClassVar[int] = 4

    def __init__(self, *, config: Mapping[str, Any], credentials: Mapping[str, Any]):
        self.config = dict(config)
        self.credentials = dict(credentials)

    # --- configuration ------------------------------------------------------------------------
    @classmethod
    def validate(
        cls,
        config: Mapping[str, Any],
        credentials: Mapping[str, Any],
        *,
        audience: str | None = None,
        strict: bool = False,
    ) -> None:
        """Raise ConfigError naming each bad field: the declared fields, then the kind's own rules."""
        errors = config_errors(cls, config, credentials, audience=audience, strict=strict)
        if not errors:
            errors = cls.check(config, credentials)
        if errors:
            raise ConfigError(errors)

    @classmethod
    def check(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, str]:
        """Rules beyond single fields (values already have the declared types)."""
        return {}

    @classmethod
    def docs_for(cls, config: Mapping[str, Any]) -> str:
        """The documentation of this channel's provider (the kind's, unless a setting picks one)."""
        return cls.docs_url

    @classmethod
    def feedback_webhook(cls, config: Mapping[str, Any], channel_id: int) -> str:
        """The URL to give the provider for its delivery feedback on this channel ("" when there
        is none to configure)."""
        return ""

    @classmethod
    def normalize_address(cls, address: str) -> str:
        """A personal address as stored (member ID, URL); raises django's ValidationError."""
        address = address.strip()
        if not address:
            raise ValidationError(f"Give {cls.address_label}.")
        cls.check_address(address)
        return address

    @classmethod
    def check_address(cls, address: str) -> None:
        """Raise django's ValidationError unless `address` can receive this kind's personal messages."""
        raise NotImplementedError(f"{cls.kind} channels do not address subscribers")

    @classmethod
    def own_address(cls, actor) -> str:
        """Where a test to the requesting user goes by default ("" when the kind has none)."""
        return ""

    def account_key(self) -> str:
        """Whose ceiling (`limits.per_second`) this channel shares: same key, one bucket.
        Empty: the channel's own."""
        return ""

    def target_key(self, message: RenderedMessage) -> str:
        """The destination `limits.per_target_per_second` applies to (a Slack conversation)."""
        return message.recipient

    # --- messages -----------------------------------------------------------------------------
    @staticmethod
    def escape_text(text: str) -> str:
        """User-supplied text made inert in this kind's markup (names, titles). Most kinds parse
        none in the places we put such text; Slack does (mentions like <!channel>)."""
        return text

    @classmethod
    def mention(cls, recipient: str) -> str:
        """How a personal message names its recipient (`{{{mention}}}`): Slack's <@U…>."""
        return ""

    @classmethod
    def sample_mention(cls, name: str) -> str:
        """The mention in a preview, where there is no real recipient."""
        return ""

    @classmethod
    def message_context(cls, context: Mapping[str, Any]) -> dict[str, Any]:
        """Values this kind's message templates need beyond the shared ones (titles in its markup)."""
        return {}

    @classmethod
    def notice(cls, text: str, **webhook_fields: Any) -> dict[str, Any]:
        """A short plain-text notice (a channel test, a guard alert) as this kind's payload.
        JSON receivers get the fields beside the text."""
        return {**webhook_fields, "text": text}

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        """A chat or webhook payload marked as a test, visibly to whoever receives it; `banner`
        is plain text. JSON receivers get `"test": true` (chat kinds show the banner instead)."""
        return {**payload, "test": True}

    @classmethod
    def validate_recipient(cls, recipient: str) -> None:
        """Raise django's ValidationError unless `recipient` can be a personal recipient of this
        kind (an address, a member ID, a URL). Kinds without personal recipients accept any."""
        if cls.subscriber_field:
            cls.check_address(recipient)

    # --- the demo of `make run` ---------------------------------------------------------------
    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        """Channels the demo data loads, posting to `sink_url` (this kind's local sink)."""
        return []

    @classmethod
    def sink_answer(cls, body: bytes) -> SinkAnswer:
        return SinkAnswer()

    # --- sending ------------------------------------------------------------------------------
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
