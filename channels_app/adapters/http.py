"""Shared HTTP plumbing for adapters that POST JSON (Discord, outbound webhooks).

One core.outbound OutboundSession per adapter (connection reuse; connections pinned to checked
public addresses; explicit timeouts, our User-Agent, no redirects, no proxies). A refused target
is an UnsafeTargetError (permanent). Each kind overrides `classify_response` only, and what the
receiver answered is recorded as a short reason (core.outbound.reasons), never its body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from channels_app.adapters.base import (
    ChannelAdapter,
    RenderedMessage,
    SendResult,
    TransientProviderError,
    UnsafeTargetError,
)
from core.outbound import TargetRefused, http_reason, sanitize_url
from core.outbound.http import OutboundSession


def response_reason(response: requests.Response) -> str:
    return http_reason(
        response.status_code, response.reason or "", response.headers.get("Content-Type", ""), response.content
    )


def retry_after_seconds(response: requests.Response, body: Any = None) -> float | None:
    """Seconds to wait: a JSON `retry_after` (Discord's, precise) before the Retry-After header
    (whole seconds, rounded up)."""
    if isinstance(body, dict) and isinstance(body.get("retry_after"), (int, float)):
        return max(0.0, float(body["retry_after"]))
    header = response.headers.get("Retry-After")
    try:
        return max(0.0, float(header)) if header else None
    except ValueError:
        return None


class HttpAdapter(ChannelAdapter):
    timeout = (5, 15)  # connect, read

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.session = OutboundSession()

    def close(self) -> None:
        self.session.close()

    def post_json(
        self, url: str, *, data: bytes, headers: Mapping[str, str] | None = None, params=None
    ) -> requests.Response:
        try:
            return self.session.post(
                url,
                data=data,
                params=params,
                timeout=self.timeout,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except TargetRefused as exc:
            raise UnsafeTargetError(exc.reason) from exc
        except requests.Timeout as exc:
            raise TransientProviderError(f"timed out posting to {sanitize_url(url)}") from exc
        except requests.RequestException as exc:
            raise TransientProviderError(f"cannot connect to {sanitize_url(url)}: {type(exc).__name__}") from exc

    def result_for(self, message: RenderedMessage, response: requests.Response) -> SendResult:
        """2xx is sent; other answers are classified per kind (raising for channel-wide ones)."""
        if 200 <= response.status_code < 300:
            return SendResult.sent(message, self.provider_message_id(response))
        return self.classify_response(message, response)

    def provider_message_id(self, response: requests.Response) -> str:
        return ""

    def classify_response(self, message: RenderedMessage, response: requests.Response) -> SendResult:
        status = response.status_code
        if 300 <= status < 400:
            return SendResult.failed(message, f"HTTP {status}: redirects are not followed", permanent=True)
        detail = response_reason(response)
        if status == 429 or status >= 500:
            return SendResult.failed(message, detail, permanent=False, retry_after=retry_after_seconds(response))
        return SendResult.failed(message, detail, permanent=True)
