"""Slack through slack-sdk's WebClient.chat_postMessage, Block Kit with a top-level `text`.

Broadcast channels post to `config["channel"]`; personal channels post to each subscriber's
member ID (a direct message from the app). https://api.slack.com/methods/chat.postMessage
Limits: 50 blocks per message, 3,000 characters per section text; longer content is cut at
a word boundary with an ellipsis and the overflow summarized in a final context block.
Rate: about one message per second per channel (https://api.slack.com/apis/rate-limits).
"""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from channels_app.adapters.base import (
    ChannelAdapter,
    ConfigError,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    TransientProviderError,
)
from channels_app.adapters.limits import fit_slack_blocks, truncate
from subscribers.validators import validate_slack_member_id

# Errors meaning the app's token or install is unusable: the whole channel stops.
AUTH_ERRORS = {
    "invalid_auth",
    "not_authed",
    "token_revoked",
    "token_expired",
    "account_inactive",
    "no_permission",
    "missing_scope",
    "team_access_not_granted",
    "org_login_required",
    "ekm_access_denied",
    "not_allowed_token_type",
}
# The destination cannot receive: for a broadcast channel that is the channel's own config.
DESTINATION_ERRORS = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "user_not_found",
    "cannot_dm_bot",
    "user_disabled",
    "restricted_action",
}
TRANSIENT_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackAdapter(ChannelAdapter):
    kind = "slack"
    chunk_size = 5
    parallelism = 2
    default_rate_per_second = 1.0

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        base_url = self.config.get("base_url") or WebClient.BASE_URL
        # No retry handlers: retries are ours (Celery and the database), never hidden sleeps.
        self.client = WebClient(token=self.credentials.get("token"), base_url=base_url, timeout=15, retry_handlers=[])
        self.broadcast_channel = self.config.get("channel", "")

    @classmethod
    def validate(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        errors = {}
        if not str(credentials.get("token", "")).startswith(("xoxb-", "xoxp-")):
            errors["token"] = "a Slack bot token (xoxb-...) is required"
        base_url = str(config.get("base_url", ""))
        if base_url and not (base_url.startswith(("http://", "https://")) and base_url.endswith("/")):
            errors["base_url"] = "must be an http(s) URL ending with '/'"
        if errors:
            raise ConfigError(errors)

    @classmethod
    def validate_recipient(cls, recipient: str) -> None:
        validate_slack_member_id(recipient)

    def send_one(self, message: RenderedMessage) -> SendResult:
        payload = dict(message.payload or {})
        channel = message.recipient or self.broadcast_channel
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=truncate(str(payload.get("text") or "(no text)"), 4000),
                blocks=fit_slack_blocks(payload.get("blocks") or []) or None,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            return self._classify(message, exc)
        except (SlackClientError, urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransientProviderError(f"Slack unreachable: {type(exc).__name__}: {exc}") from exc
        return SendResult.sent(message, f"{response.get('channel', channel)}:{response.get('ts', '')}")

    def _classify(self, message: RenderedMessage, exc: SlackApiError) -> SendResult:
        error = str(exc.response.get("error", "unknown_error"))
        detail = f"Slack error: {error}"
        if exc.response.status_code == 429 or error == "ratelimited":
            retry_after = float(exc.response.headers.get("Retry-After", exc.response.headers.get("retry-after", 1)))
            return SendResult.failed(message, detail, permanent=False, retry_after=retry_after)
        if error in AUTH_ERRORS:
            raise PermanentProviderError(detail)
        if error in DESTINATION_ERRORS and not message.recipient:
            raise PermanentProviderError(f"{detail} (channel {self.broadcast_channel})")
        return SendResult.failed(message, detail, permanent=error not in TRANSIENT_ERRORS)
