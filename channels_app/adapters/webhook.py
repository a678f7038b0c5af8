"""Outbound webhooks signed per Standard Webhooks (https://www.standardwebhooks.com/).

Headers: `webhook-id` (stable across retries of a delivery, so receivers can dedupe),
`webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">` keyed with the channel's `whsec_` secret. Redirects are never
followed; 410 Gone disables a broadcast endpoint; private targets are refused (core.outbound).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
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
)
from channels_app.adapters.fields import TextField, URLField
from channels_app.adapters.http import HttpAdapter
from core.outbound import sanitize_url
from subscribers.validators import validate_webhook_url

SECRET_PREFIX = "whsec_"


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookAdapter(HttpAdapter):
    kind = "webhook"
    label = "Webhook"
    description = "Signed JSON events (Standard Webhooks) to an endpoint, or to each subscriber's own URL."
    docs_url = "https://www.standardwebhooks.com/"
    audiences = frozenset({Audience.BROADCAST, Audience.SUBSCRIBERS})
    config_fields = {
        "url": URLField("Endpoint URL", "Broadcast: where every event goes."),
        "alert_recipient": URLField("Guard alert URL", "Personal channels: where guard alerts go."),
        "secret": TextField("Signing secret", "whsec_… (Standard Webhooks). Stored encrypted.", secret=True),
    }
    broadcast_field = "url"
    subscriber_field = "webhook_url"
    carries_digests = True
    personal_label = "Personal webhook"
    delivered_by = "by your personal webhook"
    address_label = "a webhook URL"
    limits = Limits(per_second=20.0)
    chunk_size = 10
    parallelism = 4

    @classmethod
    def check(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, str]:
        secret = str(credentials.get("secret", ""))
        try:
            valid_secret = secret.startswith(SECRET_PREFIX) and len(base64.b64decode(secret[6:], validate=True)) >= 16
        except ValueError:
            valid_secret = False
        if not valid_secret:
            return {"secret": "a Standard Webhooks secret: 'whsec_' + base64 of at least 16 random bytes"}
        return {}

    @classmethod
    def check_address(cls, address: str) -> None:

        validate_webhook_url(address)

    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        secret = {"secret": "whsec_ZGVtby1zZWNyZXQtZm9yLWJ1bGxldGluLWRlbW8="}
        return [DemoChannel("Demo partner webhook", Audience.BROADCAST, {"url": sink_url}, secret)]

    def send_one(self, message: RenderedMessage) -> SendResult:
        url = message.recipient or self.config.get("url", "")
        body = json.dumps(message.payload or {}, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                secret=self.credentials["secret"], msg_id=message.idempotency_key, timestamp=timestamp, body=body
            ),
        }
        try:
            response = self.post_json(url, data=body, headers=headers)
        except PermanentProviderError as exc:
            if message.recipient:  # a subscriber's own endpoint: only their message fails
                return SendResult.failed(message, exc.message, permanent=True)
            raise
        return self.result_for(message, response)

    def classify_response(self, message: RenderedMessage, response: requests.Response) -> SendResult:
        if response.status_code == 410:
            reason = f"{sanitize_url(response.url or '')} answered 410 Gone: endpoint disabled"
            if not message.recipient:
                raise PermanentProviderError(reason)
            return SendResult.failed(message, reason, permanent=True)
        return super().classify_response(message, response)
