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

from channels_app.adapters.base import ConfigError, PermanentProviderError, RenderedMessage, SendResult
from channels_app.adapters.http import HttpAdapter
from core.outbound import sanitize_url
from core.outbound.http import url_problem
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
    carries_digests = True
    chunk_size = 10
    parallelism = 4
    default_rate_per_second = 20.0

    @classmethod
    def validate(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> None:
        errors = {}
        secret = str(credentials.get("secret", ""))
        try:
            valid_secret = secret.startswith(SECRET_PREFIX) and len(base64.b64decode(secret[6:], validate=True)) >= 16
        except ValueError:
            valid_secret = False
        if not valid_secret:
            errors["secret"] = "a Standard Webhooks secret: 'whsec_' + base64 of at least 16 random bytes"
        url = config.get("url")
        if url is not None and not str(url).startswith(("https://", "http://")):
            errors["url"] = "must be an http(s) URL"
        elif url and (problem := url_problem(url)):
            errors["url"] = problem
        if errors:
            raise ConfigError(errors)

    @classmethod
    def validate_recipient(cls, recipient: str) -> None:
        validate_webhook_url(recipient)

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
