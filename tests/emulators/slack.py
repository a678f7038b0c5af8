"""A Slack Web API emulator for slack-sdk's `WebClient(token=..., base_url=slack.url)`.

    with SlackEmulator(token="xoxb-test", rate_per_channel=1.0, workspace_rate_per_minute=600) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url)
        client.chat_postMessage(channel="C0123456789", text="hi")
        assert slack.messages(channel="C0123456789")[0]["text"] == "hi"

    python -m tests.emulators.slack --port 0 --token xoxb-test --rate-per-channel 1 --workspace-rate-per-minute 600

Methods: chat.postMessage (JSON or form body), auth.test, conversations.open. Errors come the
Slack way, HTTP 200 with {"ok": false, "error": ...} (https://api.slack.com/web#responses),
which slack-sdk turns into SlackApiError. Rate limits come as HTTP 429 with Retry-After and
error "ratelimited" (https://api.slack.com/apis/rate-limits): chat.postMessage "generally allows
posting one message per second per channel, while also maintaining a workspace-wide limit", so
`rate_per_channel` limits each conversation (a DM counts as one) and `workspace_rate_per_minute`
all of them together, each a token bucket with one second's worth of burst by default (Slack
allows "short bursts"). The workspace is asked first: a message it refuses costs its conversation
nothing, while one its conversation refuses still counts for the workspace, as any call does.
slack-sdk's default
WebClient has only a connection-error retry handler, so a 429 surfaces as SlackApiError
with `e.response.status_code == 429` and `e.response.headers["Retry-After"]`.

Channels: by default any well-formed ID (C…, G… for channels, U…/W… for a DM with that
member, answered with channel "D…") exists and the bot is in it. `add_channel(id,
name=..., member=False)` registers a channel (or member ID) and whether the bot is in it
(else not_in_channel); with `strict_channels=True` only registered IDs exist (else
channel_not_found). Names ("#general") resolve through registered channels only.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from typing import Any, ClassVar

from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.httpserver import Request, Response
from tests.emulators.limits import TokenBucket, whole_seconds
from tests.emulators.slack_blocks import MAX_TEXT_LENGTH, block_errors

CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{6,}")
MEMBER_ID = re.compile(r"[UW][A-Z0-9]{6,}")
TOKEN_STATUSES = ("ok", "invalid_auth", "token_revoked", "account_inactive")
ERROR_FOR_STATUS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
TEAM = {"url": "https://bulletin-emulator.slack.com/", "team": "Bulletin Emulator", "team_id": "T0EMULATOR"}
BOT = {"user": "bulletin", "user_id": "U0EMULATOR", "bot_id": "B0EMULATOR"}


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def slack_error(error: str, status: int = 200, retry_after: float | None = None, **extra: Any) -> Response:
    headers = {"Retry-After": str(whole_seconds(retry_after))} if retry_after is not None else {}
    return Response.json({"ok": False, "error": error, **extra}, status, headers, error=error)


class SlackEmulator(Emulator):
    """Options: token (the valid one), tokens ({token: ok|invalid_auth|token_revoked|account_inactive}),
    strict_channels, rate_per_channel (messages/s, None = unlimited), channel_burst,
    workspace_rate_per_minute (None = unlimited), workspace_burst (None: one second's worth),
    plus the common latency_ms, hang_seconds, down, fail_next."""

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "rate_per_channel": None,
        "channel_burst": 1.0,
        "workspace_rate_per_minute": None,
        "workspace_burst": None,
        "strict_channels": False,
    }
    rate_per_channel: float | None
    channel_burst: float
    workspace_rate_per_minute: float | None
    workspace_burst: float | None
    strict_channels: bool

    def __init__(
        self,
        token: str = "xoxb-emulator",
        *,
        rate_per_channel: float | None = None,
        channel_burst: float = 1.0,
        workspace_rate_per_minute: float | None = None,
        workspace_burst: float | None = None,
        strict_channels: bool = False,
        **options: Any,
    ) -> None:
        self.tokens: dict[str, str] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        super().__init__(
            tokens={token: "ok"},
            rate_per_channel=rate_per_channel,
            channel_burst=channel_burst,
            workspace_rate_per_minute=workspace_rate_per_minute,
            workspace_burst=workspace_burst,
            strict_channels=strict_channels,
            **options,
        )

    @property
    def url(self) -> str:
        """The base_url for WebClient (slack-sdk joins method names onto it, so it ends in /)."""
        return f"{self.endpoint_url}/api/"

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "url": self.url}

    # --- options, records, stats -------------------------------------------------------------

    def apply_options(self, options: dict[str, Any]) -> None:
        for token, status in (options.pop("tokens", None) or {}).items():
            if status not in TOKEN_STATUSES:
                raise ValueError(f"token status must be one of {TOKEN_STATUSES}")
            self.tokens[token] = status
        for channel_id, channel in (options.pop("channels", None) or {}).items():
            self.add_channel(channel_id, **channel)
        if "rate_per_channel" in options:
            rate = options.pop("rate_per_channel")
            self.rate_per_channel = float(rate) if rate else None
            self.buckets.clear()
        if "channel_burst" in options:
            self.channel_burst = float(options.pop("channel_burst"))
            self.buckets.clear()
        for name in ("workspace_rate_per_minute", "workspace_burst"):
            if name in options:
                value = options.pop(name)
                setattr(self, name, float(value) if value else None)
                self.workspace = None
        if "strict_channels" in options:
            self.strict_channels = bool(options.pop("strict_channels"))

    def emulator_config(self) -> dict[str, Any]:
        return {
            "tokens": dict(self.tokens),
            "channels": {channel_id: dict(channel) for channel_id, channel in self.channels.items()},
            "rate_per_channel": self.rate_per_channel,
            "channel_burst": self.channel_burst,
            "workspace_rate_per_minute": self.workspace_rate_per_minute,
            "workspace_burst": self.workspace_burst,
            "strict_channels": self.strict_channels,
        }

    def clear_records(self) -> None:
        self.posted: list[dict[str, Any]] = []
        self.buckets: dict[str, TokenBucket] = {}
        self.workspace: TokenBucket | None = None
        self.ratelimited: Counter[str] = Counter()
        self.ratelimited_workspace = 0
        self.tokens.clear()
        self.channels.clear()
        self._last_ts = 0.0

    def emulator_stats(self) -> dict[str, Any]:
        return {
            "messages_posted": len(self.posted),
            "by_channel": dict(Counter(message["channel"] for message in self.posted)),
            "ratelimited_by_channel": dict(self.ratelimited),
            "ratelimited_workspace": self.ratelimited_workspace,
            "ratelimited": sum(self.ratelimited.values()) + self.ratelimited_workspace,
        }

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Posted messages: channel, text, blocks, thread_ts, ts, received_at, params."""
        with self.lock:
            return [m for m in self.posted if channel is None or channel in (m["channel"], m["requested_channel"])]

    def timestamps(self, channel: str) -> list[float]:
        """When each message to `channel` arrived (time.time()), to measure a sender's pace."""
        return [message["received_at"] for message in self.messages(channel=channel)]

    def add_channel(self, channel_id: str, *, name: str | None = None, member: bool = True) -> None:
        with self.lock:
            self.channels[channel_id] = {"name": name or channel_id.lower(), "member": member}

    def set_token(self, token: str, status: str = "ok") -> None:
        self.configure(tokens={token: status})

    # --- requests ----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        return request.path.rstrip("/").rsplit("/", 1)[-1]

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or (429 if fault.code == "ratelimited" else 200 if fault.code else 500)
        error = fault.code or ERROR_FOR_STATUS.get(status, "internal_error")
        retry_after = fault.retry_after if fault.retry_after is not None else (1 if status == 429 else None)
        return slack_error(error, status, retry_after)

    def handle_api(self, request: Request) -> Response:
        method = self.operation(request)
        handlers = {
            "chat.postMessage": self.post_message,
            "auth.test": self.auth_test,
            "conversations.open": self.open_dm,
        }
        if not request.path.startswith("/api/") or method not in handlers:
            return slack_error("unknown_method", 404)
        try:
            params = self.params(request)
            self.authenticate(request, params)
            return handlers[method](params)
        except SlackError as error:
            return slack_error(error.error, **error.extra)

    @staticmethod
    def params(request: Request) -> dict[str, Any]:
        params = {key: values[-1] for key, values in request.query.items()}
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            try:
                params.update(request.json() or {})
            except ValueError:
                raise SlackError("invalid_json") from None
        elif request.body:
            params.update(request.form())
        return params

    def authenticate(self, request: Request, params: dict[str, Any]) -> None:
        # https://api.slack.com/authentication/token-types: Bearer header, or `token` in a form body
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else params.get("token")
        if not token:
            raise SlackError("not_authed")
        status = self.tokens.get(token, "invalid_auth")
        if status != "ok":
            raise SlackError(status)

    def auth_test(self, params: dict[str, Any]) -> Response:
        return Response.json({"ok": True, **TEAM, **BOT, "is_enterprise_install": False})

    def open_dm(self, params: dict[str, Any]) -> Response:
        users = [user.strip() for user in str(params.get("users") or "").split(",") if user.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        for user in users:
            if not MEMBER_ID.fullmatch(user) or (self.strict_channels and user not in self.channels):
                raise SlackError("user_not_found")
        return Response.json({"ok": True, "channel": {"id": "D" + users[0][1:], "is_im": len(users) == 1}})

    def resolve_channel(self, requested: str) -> str:
        """The channel ID a post lands in, or SlackError like Slack's."""
        name = requested.removeprefix("#")
        by_name = {channel["name"]: channel_id for channel_id, channel in self.channels.items()}
        channel_id = name if name in self.channels else by_name.get(name)
        if channel_id is None:
            if self.strict_channels or not (CHANNEL_ID.fullmatch(name) or MEMBER_ID.fullmatch(name)):
                raise SlackError("channel_not_found")
            channel_id = name
        if not self.channels.get(channel_id, {"member": True})["member"]:
            raise SlackError("not_in_channel")
        return "D" + channel_id[1:] if MEMBER_ID.fullmatch(channel_id) else channel_id

    def post_message(self, params: dict[str, Any]) -> Response:
        # https://api.slack.com/methods/chat.postMessage#errors
        channel = self.resolve_channel(str(params.get("channel") or ""))
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                raise SlackError("invalid_blocks_format") from None
        text = params.get("text") or ""
        if not text and not blocks and not params.get("attachments"):
            raise SlackError("no_text")
        if len(text) > MAX_TEXT_LENGTH:
            raise SlackError("msg_too_long")
        if blocks is not None and (errors := block_errors(blocks)):
            raise SlackError("invalid_blocks", errors=errors)
        if self.workspace_rate_per_minute and (wait := self.take_workspace_token()):
            self.ratelimited_workspace += 1
            return slack_error("ratelimited", 429, wait)
        if self.rate_per_channel and (wait := self.take_channel_token(channel)):
            self.ratelimited[channel] += 1
            return slack_error("ratelimited", 429, wait)
        ts = self.next_ts()
        message = {"type": "message", "text": text, "user": BOT["user_id"], "bot_id": BOT["bot_id"], "ts": ts}
        message |= {"blocks": blocks} if blocks else {}
        message |= {"thread_ts": params["thread_ts"]} if params.get("thread_ts") else {}
        self.posted.append(
            {
                "channel": channel,
                "requested_channel": params.get("channel"),
                "text": text,
                "blocks": blocks,
                "thread_ts": params.get("thread_ts"),
                "ts": ts,
                "received_at": time.time(),
                "params": params,
            }
        )
        return Response.json({"ok": True, "channel": channel, "ts": ts, "message": message})

    def take_channel_token(self, channel: str) -> float:
        bucket = self.buckets.get(channel)
        if bucket is None:
            bucket = self.buckets[channel] = TokenBucket(self.rate_per_channel or 1.0, burst=self.channel_burst)
        return bucket.take()

    def take_workspace_token(self) -> float:
        if self.workspace is None:
            rate = (self.workspace_rate_per_minute or 60.0) / 60
            self.workspace = TokenBucket(rate, burst=self.workspace_burst)
        return self.workspace.take()

    def next_ts(self) -> str:
        # Message ts values are unique per channel; keep them strictly increasing here.
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("Slack Web API emulator (chat.postMessage, auth.test, conversations.open)")
    parser.add_argument("--token", default="xoxb-emulator", help="the token that authenticates")
    parser.add_argument("--rate-per-channel", type=float, default=None, help="messages per second per channel")
    parser.add_argument("--workspace-rate-per-minute", type=float, default=None, help="all conversations together")
    parser.add_argument("--strict-channels", action="store_true")
    args = parser.parse_args(argv)
    options = {
        "rate_per_channel": args.rate_per_channel,
        "workspace_rate_per_minute": args.workspace_rate_per_minute,
        "strict_channels": args.strict_channels,
    }
    serve_forever(SlackEmulator(args.token, **options, **common_options(args)))


if __name__ == "__main__":
    main()
