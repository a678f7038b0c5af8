"""A Discord webhook emulator: Execute Webhook, as https://discord.com/developers/docs/resources/webhook#execute-webhook.

    with DiscordEmulator() as discord:
        url = discord.webhook_url()                       # http://127.0.0.1:PORT/api/webhooks/ID/TOKEN
        requests.post(url, params={"wait": "true"}, json={"content": "hi"}).json()["id"]
        discord.delete_webhook(url)                       # now 404 {"code": 10015, "message": "Unknown Webhook"}

    python -m tests.emulators.discord --port 0 --rate-limit 5/2

`POST /api/webhooks/{id}/{token}` (and `/api/v10/...`): 204 without `?wait=true`, else 200
with the created message. Any numeric webhook ID is accepted unless registered with another
token (401, code 50027) or deleted (404, code 10015). A bad body gets 400 code 50035
"Invalid Form Body" with Discord's nested `errors`. With `rate_limit` ("5/2": 5 requests per
2 s per webhook) every answer carries X-RateLimit-* headers and the excess gets 429 with
Retry-After and {"message": "You are being rate limited.", "retry_after": s, "global": false}
(https://discord.com/developers/docs/topics/rate-limits).
"""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any, ClassVar

from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.discord_payload import is_empty, payload_errors
from tests.emulators.httpserver import Request, Response, reason_phrase
from tests.emulators.limits import FixedWindow, WindowsPerKey, whole_seconds

WEBHOOK_PATH = re.compile(r"/api(?:/v\d+)?/webhooks/(?P<id>[^/]+)/(?P<token>[^/]+)/?")
DISCORD_EPOCH_MS = 1_420_070_400_000  # https://discord.com/developers/docs/reference#snowflakes


def discord_error(status: int, code: int, message: str, **extra: Any) -> Response:
    return Response.json({"message": message, "code": code, **extra}, status, error=str(code))


class DiscordEmulator(Emulator):
    """Options: rate_limit ("5/2" or {"limit", "window"}; None = unlimited), plus the common
    latency_ms, hang_seconds, down, fail_next."""

    DEFAULTS: ClassVar[dict[str, Any]] = {"rate_limit": None}

    def __init__(self, *, rate_limit: str | dict[str, Any] | None = None, **options: Any) -> None:
        self._snowflakes = itertools.count()
        super().__init__(rate_limit=rate_limit, **options)

    # --- options, records, stats -------------------------------------------------------------

    def apply_options(self, options: dict[str, Any]) -> None:
        if "rate_limit" in options:
            self.limits.configure(options.pop("rate_limit"))

    def emulator_config(self) -> dict[str, Any]:
        webhooks = {key: dict(value) for key, value in self.webhooks.items()}
        return {"rate_limit": self.limits.as_option(), "webhooks": webhooks}

    def clear_records(self) -> None:
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.limits = WindowsPerKey()
        self.posted: list[dict[str, Any]] = []
        self.ratelimited = 0

    def emulator_stats(self) -> dict[str, Any]:
        return {
            "messages_posted": len(self.posted),
            "by_webhook": dict(Counter(message["webhook_id"] for message in self.posted)),
            "ratelimited": self.ratelimited,
        }

    def messages(self, webhook_id: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages: webhook_id, message_id, channel_id, content, embeds, username, payload, received_at."""
        with self.lock:
            return [m for m in self.posted if webhook_id is None or m["webhook_id"] == webhook_id]

    def webhook_url(
        self, webhook_id: str | None = None, token: str | None = None, channel_id: str | None = None
    ) -> str:
        """Register a webhook (new IDs by default) and return its URL."""
        with self.lock:
            webhook_id = webhook_id or self.snowflake()
            self.webhooks[webhook_id] = {
                "token": token or secrets.token_urlsafe(48),
                "channel_id": channel_id or self.snowflake(),
                "deleted": False,
            }
            return f"{self.endpoint_url}/api/webhooks/{webhook_id}/{self.webhooks[webhook_id]['token']}"

    def delete_webhook(self, webhook_id_or_url: str) -> None:
        """Make a webhook answer 404 Unknown Webhook from now on."""
        match = WEBHOOK_PATH.search(webhook_id_or_url)
        webhook_id = match["id"] if match else webhook_id_or_url
        with self.lock:
            self.webhooks.setdefault(webhook_id, {"token": "", "channel_id": self.snowflake()})["deleted"] = True

    def snowflake(self) -> str:
        millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return str((millis << 22) | (next(self._snowflakes) & 0xFFF))

    # --- requests ----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        return f"{request.method} webhook" if WEBHOOK_PATH.fullmatch(request.path) else "unknown"

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or (429 if fault.code in ("ratelimited", "global") else 500)
        if status == 429:
            return self.rate_limited(fault.retry_after or 1.0, is_global=fault.code == "global")
        if status == 404:
            return discord_error(404, 10015, "Unknown Webhook")
        code = int(fault.code) if fault.code.isdigit() else 0
        return discord_error(status, code, fault.message or f"{status}: {reason_phrase(status) or 'Error'}")

    def rate_limited(
        self, retry_after: float, *, is_global: bool = False, window: FixedWindow | None = None
    ) -> Response:
        headers = {
            "Retry-After": str(whole_seconds(retry_after)),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        if window is not None:
            headers |= self.limit_headers(window)
        body = {"message": "You are being rate limited.", "retry_after": round(retry_after, 3), "global": is_global}
        return Response.json(body, 429, headers, error="ratelimited")

    @staticmethod
    def limit_headers(window: FixedWindow) -> dict[str, str]:
        reset_after = window.reset_after()
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(window.remaining),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": f"webhook-{id(window):x}",
        }

    def handle_api(self, request: Request) -> Response:
        match = WEBHOOK_PATH.fullmatch(request.path)
        if match is None:
            return discord_error(404, 0, "404: Not Found")
        webhook_id, token = match["id"], match["token"]
        webhook = self.webhooks.get(webhook_id)
        if not webhook_id.isdigit() or (webhook and webhook["deleted"]):
            return discord_error(404, 10015, "Unknown Webhook")
        if webhook and webhook["token"] != token:
            return discord_error(401, 50027, "Invalid Webhook Token")
        channel_id = webhook["channel_id"] if webhook else str(int(webhook_id) + 1)
        if request.method == "GET":
            return Response.json(
                {"id": webhook_id, "type": 1, "channel_id": channel_id, "name": "Bulletin", "token": token}
            )
        if request.method != "POST":
            return discord_error(405, 0, "405: Method Not Allowed")
        window = self.limits.window(webhook_id)
        if window is not None and (wait := window.take()):
            self.ratelimited += 1
            return self.rate_limited(wait, window=window)
        return self.execute(request, webhook_id, channel_id, window)

    def execute(self, request: Request, webhook_id: str, channel_id: str, window: FixedWindow | None) -> Response:
        try:
            payload = request.json()
        except ValueError:
            return discord_error(400, 50109, "The request body contains invalid JSON.")
        if not isinstance(payload, dict) or is_empty(payload):
            return discord_error(400, 50006, "Cannot send an empty message")
        if errors := payload_errors(payload):
            return discord_error(400, 50035, "Invalid Form Body", errors=errors)
        channel_id = request.query_value("thread_id") or channel_id
        message = self.record(webhook_id, channel_id, payload, request)
        headers = self.limit_headers(window) if window is not None else {}
        if request.query_value("wait", "false").lower() != "true":
            return Response(204, headers=headers)
        return Response.json(message, headers=headers)

    def record(self, webhook_id: str, channel_id: str, payload: dict[str, Any], request: Request) -> dict[str, Any]:
        message_id = self.snowflake()
        self.posted.append(
            {
                "webhook_id": webhook_id,
                "message_id": message_id,
                "channel_id": channel_id,
                "content": payload.get("content") or "",
                "embeds": payload.get("embeds") or [],
                "username": payload.get("username"),
                "payload": payload,
                "wait": request.query_value("wait") == "true",
                "received_at": time.time(),
            }
        )
        author = {"id": webhook_id, "username": payload.get("username") or "Bulletin", "bot": True, "avatar": None}
        return {
            "id": message_id,
            "type": 0,
            "channel_id": channel_id,
            "webhook_id": webhook_id,
            "author": author,
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts")),
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": int(payload.get("flags") or 0),
            "components": [],
        }


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("Discord webhook emulator")
    parser.add_argument("--rate-limit", default=None, help='requests per window per webhook, e.g. "5/2"')
    args = parser.parse_args(argv)
    serve_forever(DiscordEmulator(rate_limit=args.rate_limit, **common_options(args)))


if __name__ == "__main__":
    main()
