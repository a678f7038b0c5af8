"""Discord through its webhooks: POST JSON with `?wait=true`, so a refused message is an error,
not a silent 204. The webhook URL holds its token, so it is kept with the credentials. https://discord.com/developers/docs/resources/webhook#execute-webhook
Limits: 2,000 characters of content, 10 embeds, 6,000 characters across embeds.
A 404 (webhook deleted) disables the channel; 429 carries `retry_after` in seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import requests

from channels_app.adapters.base import (
    Audience,
    DemoChannel,
    Limits,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    SinkAnswer,
    digest,
)
from channels_app.adapters.fields import TextField, URLField
from channels_app.adapters.http import HttpAdapter, response_reason, retry_after_seconds
from channels_app.adapters.limits import fit_discord_payload


class DiscordAdapter(HttpAdapter):
    kind = "discord"
    label = "Discord"
    description = "A Discord channel's webhook."
    docs_url = "https://discord.com/developers/docs/resources/webhook#execute-webhook"
    config_fields = {
        "username": TextField("Post as", "The name shown on messages (blank: the webhook's)."),
        "url": URLField(
            "Webhook URL",
            "https://discord.com/api/webhooks/… (it holds the token: stored encrypted).",
            required=True,
            secret=True,
        ),
    }
    preview = "discord"
    # Per webhook: 5 requests per 2 s in its X-RateLimit headers, about 30 messages a minute
    # sustained. https://discord.com/developers/docs/topics/rate-limits
    limits = Limits(per_second=0.5, burst=5)
    chunk_size = 5
    parallelism = 2

    def account_key(self) -> str:
        return digest(self.credentials.get("url"))  # every channel posting to this webhook shares it

    @classmethod
    def message_context(cls, context: Mapping[str, Any]) -> dict[str, Any]:
        from channels_app.adapters.convert import html_to_discord

        summary = context["summary"]
        return {
            "discord_description": (f"*{summary}*\n\n" if summary else "") + html_to_discord(context["body_html"]),
            "alert_line": f"**Alert:** {context['title']}",
        }

    @classmethod
    def notice(cls, text: str, **webhook_fields: Any) -> dict[str, Any]:
        return {"content": text[:2000]}

    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        return [DemoChannel("Demo Discord #news", Audience.BROADCAST, {"username": "Bulletin"}, {"url": sink_url})]

    @classmethod
    def sink_answer(cls, body: bytes) -> SinkAnswer:
        return SinkAnswer(200, {"id": str(time.time_ns()), "type": 0})

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        content = str(payload.get("content") or "")
        return {**payload, "content": f"🧪 **TEST** · {banner}\n{content}".strip()}

    def send_one(self, message: RenderedMessage) -> SendResult:
        payload = fit_discord_payload(dict(message.payload or {}))
        # Never ping anyone from content, whatever a (per-topic) template says: names and titles
        # are user-supplied. https://discord.com/developers/docs/resources/message#allowed-mentions-object
        payload["allowed_mentions"] = {"parse": []}
        if self.config.get("username"):
            payload.setdefault("username", self.config["username"])
        body = json.dumps(payload, separators=(",", ":")).encode()
        response = self.post_json(message.recipient or self.credentials["url"], data=body, params={"wait": "true"})
        return self.result_for(message, response)

    def provider_message_id(self, response: requests.Response) -> str:
        try:
            return str(response.json().get("id", ""))
        except ValueError:
            return ""

    def classify_response(self, message: RenderedMessage, response: requests.Response) -> SendResult:
        if response.status_code in (401, 403, 404):
            raise PermanentProviderError(f"Discord webhook answered {response_reason(response)}")
        if response.status_code == 429:
            try:
                body = response.json()
            except ValueError:
                body = None
            return SendResult.failed(
                message,
                "Discord rate limited (429)",
                permanent=False,
                retry_after=retry_after_seconds(response, body) or 1.0,
            )
        return super().classify_response(message, response)
