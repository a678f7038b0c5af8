"""Shared HTTP plumbing for adapters that POST JSON (Discord, outbound webhooks).

One requests.Session per adapter (connection reuse), explicit timeouts, our User-Agent,
redirects never followed, and targets on private, loopback or link-local networks refused
unless settings.WEBHOOK_ALLOW_PRIVATE_TARGETS (tests and `make run` point at loopback).
Each kind overrides `classify_response` only.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings

from channels_app.adapters.base import (
    ChannelAdapter,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    TransientProviderError,
)

USER_AGENT = "Bulletin/1.0 (+https://github.com/bulletin)"


class UnsafeTargetError(PermanentProviderError):
    pass


def check_target_url(url: str) -> None:
    """Refuse URLs that are not http(s) or that resolve to a non-public address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTargetError(f"not an http(s) URL: {sanitize_url(url)}")
    if settings.WEBHOOK_ALLOW_PRIVATE_TARGETS:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise TransientProviderError(f"cannot resolve {parts.hostname}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UnsafeTargetError(f"{parts.hostname} resolves to a private address ({address}); refused")


def sanitize_url(url: str) -> str:
    """For logs and errors: scheme, host and path start, never tokens in the path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{'/…' if parts.path not in ('', '/') else ''}"


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
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self.session.close()

    def post_json(
        self, url: str, *, data: bytes, headers: dict[str, str] | None = None, params=None
    ) -> requests.Response:
        check_target_url(url)
        try:
            return self.session.post(
                url,
                data=data,
                params=params,
                timeout=self.timeout,
                allow_redirects=False,
                headers={"Content-Type": "application/json", **(headers or {})},
            )
        except requests.Timeout as exc:
            raise TransientProviderError(f"timed out posting to {sanitize_url(url)}") from exc
        except requests.ConnectionError as exc:
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
        detail = f"HTTP {status}: {response.text[:300]}"
        if 300 <= status < 400:
            return SendResult.failed(message, f"HTTP {status}: redirects are not followed", permanent=True)
        if status == 429 or status >= 500:
            return SendResult.failed(message, detail, permanent=False, retry_after=retry_after_seconds(response))
        return SendResult.failed(message, detail, permanent=True)
