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
    UnsafeTargetError,
)
from channels_app.adapters.limits import fit_slack_blocks, truncate
from core.outbound import TargetRefused
from core.outbound.http import url_problem
from core.outbound.slack import GuardedWebClient
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


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters as entities, so `<!channel>` or `<@U1>` in a title
    pings nobody and `<url|text>` cannot be forged. Slack shows the entities as the characters.
    https://api.slack.com/reference/surfaces/formatting#escaping"""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class SlackAdapter(ChannelAdapter):
    kind = "slack"
    carries_digests = True
    chunk_size = 5
    parallelism = 2
    default_rate_per_second = 1.0

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        base_url = self.config.get("base_url") or WebClient.BASE_URL
        # No retry handlers: retries are ours (Celery and the database), never hidden sleeps.
        # GuardedWebClient: connections pinned to checked public addresses, no redirects (core.outbound).
        self.client = GuardedWebClient(
            token=self.credentials.get("token"), base_url=base_url, timeout=15, retry_handlers=[]
        )
        self.broadcast_channel = self.config.get("channel", "")

    @staticmethod
    def escape_text(text: str) -> str:
        return mrkdwn_escape(text)

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        note = f":test_tube: *TEST* · {mrkdwn_escape(banner)}"
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}
        text = str(payload.get("text") or "")
        return {**payload, "text": f"[TEST] {text}".strip(), "blocks": [context, *(payload.get("blocks") or [])]}

    @classmethod
    def validate(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        errors = {}
        if not str(credentials.get("token", "")).startswith(("xoxb-", "xoxp-")):
            errors["token"] = "a Slack bot token (xoxb-...) is required"
        base_url = str(config.get("base_url", ""))
        if base_url and not (base_url.startswith(("http://", "https://")) and base_url.endswith("/")):
            errors["base_url"] = "must be an http(s) URL ending with '/'"
        elif base_url and (problem := url_problem(base_url)):
            errors["base_url"] = problem
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
        except TargetRefused as exc:  # base_url is the channel's: the whole channel stops
            raise UnsafeTargetError(exc.reason) from exc
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
