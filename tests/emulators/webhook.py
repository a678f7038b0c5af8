"""A webhook receiver that records every request and checks Standard Webhooks signatures.

    with WebhookReceiver(secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") as hooks:
        requests.post(hooks.url("/orders"), data=body, headers=signed_headers)
        assert hooks.messages(path="/orders")[0]["signature_valid"]
        hooks.respond(410, path="/gone")           # or 429 with retry_after=30, 301 with location=...

    python -m tests.emulators.webhook --port 0 --secret whsec_...

Signatures (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md):
`webhook-signature` holds space-separated `v1,<base64 HMAC-SHA256>` of
"{webhook-id}.{webhook-timestamp}.{body}", keyed with the base64 part of the `whsec_` secret;
the timestamp must be within `tolerance_seconds` (5 minutes, as the reference libraries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.httpserver import Request, Response, reason_phrase

SECRET_PREFIX = "whsec_"
DEFAULT_TOLERANCE = 5 * 60
ANY_PATH = "*"


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The `webhook-signature` value a sender with `secret` puts on `body` (for tests and clients)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_problem(secret: str, headers: dict[str, str], body: bytes, tolerance: float) -> str:
    """Empty when the request is signed with `secret`, else why not."""
    msg_id, timestamp, signatures = (headers.get(f"webhook-{name}") for name in ("id", "timestamp", "signature"))
    if not (msg_id and timestamp and signatures):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        sent_at = int(timestamp)
        expected = sign(secret, msg_id, sent_at, body).removeprefix("v1,")
    except ValueError:  # binascii.Error is a ValueError too
        return "malformed timestamp or secret"
    if abs(time.time() - sent_at) > tolerance:
        return "timestamp outside the tolerance"
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return ""
    return "no matching v1 signature"


@dataclass
class Rule:
    """How to answer requests to one path (or every path, "*")."""

    status: int = 200
    retry_after: float | None = None
    location: str | None = None  # for 3xx; defaults to /redirected on this receiver
    body: str = ""

    def response(self, default_location: str) -> Response:
        headers = {"Content-Type": "text/plain"}
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        if 300 <= self.status < 400:
            headers["Location"] = self.location or default_location
        body = self.body or reason_phrase(self.status)
        return Response(self.status, body.encode(), headers, error="" if self.status < 300 else str(self.status))


class WebhookReceiver(Emulator):
    """Options: secret (whsec_...; None: signatures not checked), tolerance_seconds,
    responses ({path or "*": {status, retry_after, location, body}}), plus the common
    latency_ms, hang_seconds, down, fail_next."""

    DEFAULTS: ClassVar[dict[str, Any]] = {"secret": None, "tolerance_seconds": DEFAULT_TOLERANCE}
    secret: str | None
    tolerance_seconds: float

    def __init__(
        self, *, secret: str | None = None, tolerance_seconds: float = DEFAULT_TOLERANCE, **options: Any
    ) -> None:
        super().__init__(secret=secret, tolerance_seconds=tolerance_seconds, **options)

    def url(self, path: str = "/hook") -> str:
        return f"{self.endpoint_url}/{path.lstrip('/')}"

    # --- options, records, stats -------------------------------------------------------------

    def apply_options(self, options: dict[str, Any]) -> None:
        if "secret" in options:
            self.secret = options.pop("secret") or None
        if "tolerance_seconds" in options:
            self.tolerance_seconds = float(options.pop("tolerance_seconds"))
        for path, rule in (options.pop("responses", None) or {}).items():
            self.rules[path] = Rule(**rule)

    def emulator_config(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "tolerance_seconds": self.tolerance_seconds,
            "responses": {path: asdict(rule) for path, rule in self.rules.items()},
        }

    def clear_records(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.rules: dict[str, Rule] = {}

    def emulator_stats(self) -> dict[str, Any]:
        checked = [r["signature_valid"] for r in self.received if r["signature_valid"] is not None]
        return {
            "received": len(self.received),
            "signatures_valid": sum(checked),
            "signatures_invalid": len(checked) - sum(checked),
        }

    def messages(self, path: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests: method, path, query, headers, body, signature_valid, signature_error, status."""
        with self.lock:
            return [r for r in self.received if path is None or r["path"] == path]

    def respond(
        self,
        status: int = 200,
        *,
        path: str = ANY_PATH,
        retry_after: float | None = None,
        location: str | None = None,
        body: str = "",
    ) -> None:
        """Answer requests to `path` (default: every path) with `status` from now on."""
        rule = {"status": status, "retry_after": retry_after, "location": location, "body": body}
        self.configure(responses={path: rule})

    # --- requests ----------------------------------------------------------------------------

    def fault_response(self, fault: Fault) -> Response:
        return Rule(fault.status or 500, fault.retry_after, body=fault.message or fault.code).response(self.url("/"))

    def handle_api(self, request: Request) -> Response:
        problem = (
            signature_problem(self.secret, request.headers, request.body, self.tolerance_seconds)
            if self.secret
            else None
        )
        rule = self.rules.get(request.path) or self.rules.get(ANY_PATH) or Rule()
        response = rule.response(self.url("/redirected"))
        self.received.append(
            {
                "method": request.method,
                "path": request.path,
                "query": {key: values[-1] for key, values in request.query.items()},
                "headers": dict(request.headers),
                "body": request.body.decode("utf-8", "replace"),
                "signature_valid": None if problem is None else not problem,
                "signature_error": problem or "",
                "status": response.status,
                "received_at": time.time(),
            }
        )
        return response


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("Webhook receiver with Standard Webhooks signature checks")
    parser.add_argument("--secret", default=None, help="whsec_... secret to verify signatures with")
    parser.add_argument("--status", type=int, default=200, help="status to answer every request with")
    args = parser.parse_args(argv)
    responses = {ANY_PATH: {"status": args.status}}
    serve_forever(WebhookReceiver(secret=args.secret, responses=responses, **common_options(args)))


if __name__ == "__main__":
    main()
