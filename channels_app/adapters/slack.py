"""Slack through slack-sdk's WebClient.chat_postMessage, Block Kit with a top-level `text`.

Broadcast channels post to `config["channel"]`; personal channels post to each subscriber's
member ID (a direct message from the app). https://api.slack.com/methods/chat.postMessage
Limits: 50 blocks per message, 3,000 characters per section text; longer content is cut at
a word boundary with an ellipsis and the overflow summarized in a final context block.
Rate: "chat.postMessage generally allows posting one message per second per channel, while also
maintaining a workspace-wide limit" (https://api.slack.com/apis/rate-limits): one conversation
at a time waits, many go out in parallel up to the workspace's ceiling, which Slack does not
publish (600 a minute by default here; the channel's rate overrides it).
"""

from __future__ import annotations

import json
import time
import urllib.error
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from channels_app.adapters.base import (
    Audience,
    ChannelAdapter,
    DemoChannel,
    Limits,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    SinkAnswer,
    TransientProviderError,
    UnsafeTargetError,
    digest,
)
from channels_app.adapters.fields import TextField, URLField
from channels_app.adapters.limits import fit_slack_blocks, truncate
from core.outbound import TargetRefused
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
    label = "Slack"
    description = "A Slack app: posts to a channel, or direct messages to subscribers' member IDs."
    docs_url = "https://api.slack.com/methods/chat.postMessage"
    audiences = frozenset({Audience.BROADCAST, Audience.SUBSCRIBERS})
    config_fields = {
        "channel": TextField("Channel", "Broadcast: the channel ID (C…) the app posts to."),
        "base_url": URLField("Web API URL", "Blank: https://slack.com/api/"),
        "alert_recipient": TextField("Guard alert recipient", "Personal channels: member ID for guard alerts."),
        "token": TextField("Bot token", "xoxb-… (chat:write). Stored encrypted, never shown.", secret=True),
    }
    broadcast_field = "channel"
    subscriber_field = "slack_member_id"
    carries_digests = True
    personal_label = "Slack direct message"
    delivered_by = "by Slack direct message"
    address_label = "a Slack member ID"
    preview = "slack"
    merge_flavour = "slack"
    # Bursts of half a second's worth: what Slack counts is when calls arrive, not when we
    # reserved them, and a full second's burst would meet Slack's own at the slightest delay.
    limits = Limits(per_second=10.0, burst=5, per_target_per_second=1.0)
    chunk_size = 5
    parallelism = 2

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
    def mention(cls, recipient: str) -> str:
        return f"<@{recipient}>" if recipient else ""

    @classmethod
    def sample_mention(cls, name: str) -> str:
        return "@" + mrkdwn_escape(name)

    @classmethod
    def message_context(cls, context: Mapping[str, Any]) -> dict[str, Any]:
        from channels_app.adapters.convert import chunks, html_to_slack

        title, summary, is_alert = context["title"], context["summary"], context["is_alert"]
        return {
            "body_slack_chunks": chunks(html_to_slack(context["body_html"]), 2900),
            "summary_slack": html_to_slack(f"<p>{mrkdwn_escape(summary)}</p>") if summary else "",
            "header": ("🚨 " if is_alert else "") + mrkdwn_escape(title[:140]),
            # & < > are control characters in every text object (plain_text too; Slack shows the
            # entities as the characters), so a `<!channel>` in user-supplied text pings nobody.
            "slack_text": "{{{mention}}} " + ("Alert: " if is_alert else "New: ") + mrkdwn_escape(title),
            "context_line": mrkdwn_escape(" · ".join(context["topics"]) + f" · {context['site_name']}"),
        }

    @classmethod
    def notice(cls, text: str, **webhook_fields: Any) -> dict[str, Any]:
        text = mrkdwn_escape(text)  # names of channels and sends in it are user-supplied
        return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        note = f":test_tube: *TEST* · {mrkdwn_escape(banner)}"
        context = {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}
        text = str(payload.get("text") or "")
        return {**payload, "text": f"[TEST] {text}".strip(), "blocks": [context, *(payload.get("blocks") or [])]}

    @classmethod
    def check(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, str]:
        errors = {}
        if not str(credentials.get("token", "")).startswith(("xoxb-", "xoxp-")):
            errors["token"] = "a Slack bot token (xoxb-...) is required"
        if config.get("base_url") and not str(config["base_url"]).endswith("/"):
            errors["base_url"] = "must be an http(s) URL ending with '/'"
        return errors

    @classmethod
    def check_address(cls, address: str) -> None:

        validate_slack_member_id(address)

    def account_key(self) -> str:
        return digest(self.client.base_url, self.credentials.get("token"))  # the workspace the token is for

    def target_key(self, message: RenderedMessage) -> str:
        return message.recipient or self.broadcast_channel  # one conversation

    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        token = {"token": "xoxb-demo-token"}
        broadcast = {"base_url": sink_url, "channel": "C0DEMO"}
        return [
            DemoChannel("Demo Slack #announcements", Audience.BROADCAST, broadcast, token),
            DemoChannel("Demo Slack direct messages", Audience.SUBSCRIBERS, {"base_url": sink_url}, token, True),
        ]

    @classmethod
    def sink_answer(cls, body: bytes) -> SinkAnswer:
        try:
            channel = str(json.loads(body).get("channel") or "")
        except (ValueError, AttributeError):  # a form-encoded call
            channel = parse_qs(body.decode("utf-8", "replace")).get("channel", [""])[-1]
        return SinkAnswer(200, {"ok": True, "channel": channel or "C0DEMO", "ts": f"{time.time():.6f}"})

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
