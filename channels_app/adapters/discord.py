"""Discord through its webhooks: POST JSON with `?wait=true`, so a refused message is an error,
not a silent 204. The webhook URL holds its token, so it is kept with the credentials. https://discord.com/developers/docs/resources/webhook#execute-webhook
Limits: 2,000 characters of content, 10 embeds, 6,000 characters across embeds.
A 404 (webhook deleted) disables the channel; 429 carries `retry_after` in seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from channels_app.adapters.base import ConfigError, PermanentProviderError, RenderedMessage, SendResult
from channels_app.adapters.http import HttpAdapter, response_reason, retry_after_seconds
from channels_app.adapters.limits import fit_discord_payload
from core.outbound.http import url_problem


class DiscordAdapter(HttpAdapter):
    kind = "discord"
    chunk_size = 5
    parallelism = 2
    default_rate_per_second = 0.5  # Discord allows about 30 messages a minute per webhook

    @classmethod
    def validate(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        if not str(credentials.get("url", "")).startswith(("https://", "http://")):
            raise ConfigError({"url": "the Discord webhook URL is required (https://discord.com/api/webhooks/...)"})
        if problem := url_problem(credentials["url"]):
            raise ConfigError({"url": problem})

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
