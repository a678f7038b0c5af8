"""An Amazon SES v2 API emulator (REST-JSON) for boto3's `sesv2` client and django-anymail.

    with SESv2Emulator(latency_ms=20, rate_per_second=500) as ses:
        client = boto3.client("sesv2", endpoint_url=ses.endpoint_url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")
        client.send_email(...)
        assert ses.stats()["duplicates"] == {}

    python -m tests.emulators.sesv2 --port 0 --latency-ms 20 --rate 500 --no-store

Operations (paths from botocore/data/sesv2/2019-09-27/service-2.json): SendEmail,
SendBulkEmail, Create/Get/Update/Delete/ListEmailTemplate(s), GetAccount,
CreateEmailIdentity, GetEmailIdentity. Signatures are not checked.

Throttling: over `rate_per_second` (recipients a second, like SES's maximum send rate) a send
gets HTTP 429, x-amzn-ErrorType TooManyRequestsException, {"message": "Maximum sending rate
exceeded."}. TooManyRequestsException (429) is the throttling error in SendEmail's and
SendBulkEmail's error list in the v2 model, and what SES v2 answers in production: a logged
response reads "`429 Too Many Requests` response: {"message":"Maximum sending rate
exceeded."} TooManyRequestsException" (pm-pmaas/etailors_amazon_ses#117), and
alphagov/notifications-api#4310 catches TooManyRequestsException for it. `Throttling`
(HTTP 400) is the v1 Query API's code and the "ThrottlingException" of the SES guide
(https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html) is neither in
the v2 model's send errors nor seen from v2. botocore's standard retry mode retries
TooManyRequestsException, LimitExceededException and 5xx by itself, 3 attempts in all.

Measured on the shared 2-core dev machine, emulator in its own process through the CLI
(`.venv/bin/python -m tests.emulators.throughput all --seconds 8`; one boto3 client and
keep-alive connection per thread, 8 connections in all):
- SendEmail, 0 ms: 1,050-1,450 requests/s from 2 client processes x 4 threads; 590-625/s
  from 1 process x 8 threads. The ceiling is boto3 itself (~1.4 ms of CPU per call, one GIL
  per process); the emulator spends ~0.11 ms a request and takes ~4,300 requests/s from a
  bare http.client load (`throughput raw`). Run it out of process for benchmarks: in-process
  it shares the sender's GIL.
- SendBulkEmail with 50 entries, 20 ms latency: ~205 requests/s (~10,300 emails/s) from
  1 x 8, ~240 requests/s (~11,900 emails/s) from 2 x 4.
- rate_per_second=200, a client pacing itself at 200 recipients/s: 100.6% of the rate
  accepted, no throttling. A client 25% too fast gets 111% over 8 s (the rate plus the
  one-second burst the bucket starts with) and TooManyRequestsException for the rest.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import Counter
from typing import Any, ClassVar
from urllib.parse import unquote

from tests.emulators import sesv2_render as render
from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.httpserver import Request, Response
from tests.emulators.limits import TokenBucket
from tests.emulators.sesv2_store import (
    CODE_FOR_STATUS,
    ERROR_STATUS,
    IdentityStore,
    SesError,
    TemplateStore,
    error_response,
    template_name_from,
)

MAX_BULK_ENTRIES = 50  # https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html
MAX_RECIPIENTS = 50  # per message, https://docs.aws.amazon.com/ses/latest/dg/quotas.html
DEFAULT_MAX_24_HOUR_SEND = 50_000.0

ROUTES = [
    ("POST", re.compile(r"/v2/email/outbound-emails"), "SendEmail"),
    ("POST", re.compile(r"/v2/email/outbound-bulk-emails"), "SendBulkEmail"),
    ("POST", re.compile(r"/v2/email/templates"), "CreateEmailTemplate"),
    ("GET", re.compile(r"/v2/email/templates"), "ListEmailTemplates"),
    ("GET", re.compile(r"/v2/email/templates/(?P<name>[^/]+)"), "GetEmailTemplate"),
    ("PUT", re.compile(r"/v2/email/templates/(?P<name>[^/]+)"), "UpdateEmailTemplate"),
    ("DELETE", re.compile(r"/v2/email/templates/(?P<name>[^/]+)"), "DeleteEmailTemplate"),
    ("GET", re.compile(r"/v2/email/account"), "GetAccount"),
    ("POST", re.compile(r"/v2/email/identities"), "CreateEmailIdentity"),
    ("GET", re.compile(r"/v2/email/identities/(?P<name>[^/]+)"), "GetEmailIdentity"),
]


def route(request: Request) -> tuple[str, dict[str, str]]:
    for method, pattern, operation in ROUTES:
        if request.method == method and (match := pattern.fullmatch(request.path.rstrip("/"))):
            return operation, {key: unquote(value) for key, value in match.groupdict().items()}
    return "Unknown", {}


class SESv2Emulator(Emulator):
    """Options (constructor and `configure`): latency_ms, rate_per_second, store_messages,
    reject (recipient addresses), require_verified_sender, verified_identities,
    auto_verify_identities, max_24_hour_send, plus the common hang_seconds, down, fail_next."""

    DEFAULTS: ClassVar[dict[str, Any]] = {
        "rate_per_second": None,
        "store_messages": True,
        "reject": [],
        "require_verified_sender": False,
        "auto_verify_identities": True,
        "verified_identities": [],
        "max_24_hour_send": None,
    }
    rate_per_second: float | None
    bucket: TokenBucket | None
    store_messages: bool
    reject: set[str]
    require_verified_sender: bool
    auto_verify_identities: bool
    max_24_hour_send: float | None

    def __init__(
        self,
        latency_ms: float = 0,
        rate_per_second: float | None = None,
        store_messages: bool = True,
        **options: Any,
    ) -> None:
        self.templates = TemplateStore()
        self.identities = IdentityStore()
        self._ids = itertools.count(1)
        super().__init__(
            latency_ms=latency_ms, rate_per_second=rate_per_second, store_messages=store_messages, **options
        )

    # --- options, records, stats -------------------------------------------------------------

    def apply_options(self, options: dict[str, Any]) -> None:
        if "rate_per_second" in options:
            rate = options.pop("rate_per_second")
            self.rate_per_second = float(rate) if rate else None
            self.bucket = TokenBucket(self.rate_per_second) if self.rate_per_second else None
        if "store_messages" in options:
            self.store_messages = bool(options.pop("store_messages"))
        if "reject" in options:
            self.reject = {render.address_key(address) for address in options.pop("reject") or []}
        if "require_verified_sender" in options:
            self.require_verified_sender = bool(options.pop("require_verified_sender"))
        if "auto_verify_identities" in options:
            self.auto_verify_identities = bool(options.pop("auto_verify_identities"))
        for name in options.pop("verified_identities", None) or []:
            self.identities.verify(name)
        if "max_24_hour_send" in options:
            quota = options.pop("max_24_hour_send")
            self.max_24_hour_send = float(quota) if quota else None

    def emulator_config(self) -> dict[str, Any]:
        return {
            "rate_per_second": self.rate_per_second,
            "store_messages": self.store_messages,
            "reject": sorted(self.reject),
            "require_verified_sender": self.require_verified_sender,
            "auto_verify_identities": self.auto_verify_identities,
            "max_24_hour_send": self.max_24_hour_send,
        }

    def clear_records(self) -> None:
        self.by_recipient: Counter[str] = Counter()
        self.stored: list[dict[str, Any]] = []
        self.messages_accepted = 0
        self.recipients_rejected = 0
        self.templates.templates.clear()
        self.identities.identities.clear()

    def emulator_stats(self) -> dict[str, Any]:
        return {
            "messages_accepted": self.messages_accepted,
            "recipients_accepted": self.by_recipient.total(),
            "recipients_rejected": self.recipients_rejected,
            "unique_recipients": len(self.by_recipient),
            "by_recipient": dict(self.by_recipient),
            "duplicates": {address: n for address, n in self.by_recipient.items() if n > 1},
        }

    def messages(self, to: str | None = None) -> list[dict[str, Any]]:
        """Accepted messages (when store_messages), optionally those addressed to `to` (To, Cc or Bcc)."""
        with self.lock:
            if to is None:
                return list(self.stored)
            key = render.address_key(to)
            return [m for m in self.stored if key in map(render.address_key, m["to"] + m["cc"] + m["bcc"])]

    def create_template(self, name: str, subject: str, html: str | None = None, text: str | None = None) -> None:
        content = {"Subject": subject} | ({"Html": html} if html is not None else {}) | ({"Text": text} if text else {})
        with self.lock:
            self.templates.create({"TemplateName": name, "TemplateContent": content})

    # --- requests ----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        return route(request)[0]

    def fault_response(self, fault: Fault) -> Response:
        code = fault.code or CODE_FOR_STATUS.get(fault.status or 500, "InternalFailure")
        status = fault.status or ERROR_STATUS.get(code, 500)
        return error_response(SesError(code, fault.message, status), fault.retry_after)

    def handle_api(self, request: Request) -> Response:
        operation, params = route(request)
        try:
            body = request.json() if request.body else {}
            result = self.dispatch(operation, params, body, request)
        except SesError as error:
            return error_response(error)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            return error_response(SesError("BadRequestException", f"Invalid request: {exc!r}"))
        return Response.json(result, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def dispatch(self, operation: str, params: dict[str, str], body: dict[str, Any], request: Request) -> Any:
        if operation == "SendEmail":
            return self.send_email(body)
        if operation == "SendBulkEmail":
            return self.send_bulk_email(body)
        if operation == "CreateEmailTemplate":
            return self.templates.create(body)
        if operation == "ListEmailTemplates":
            page_size = int(request.query_value("PageSize") or 10)
            return self.templates.list(page_size, request.query_value("NextToken"))
        if operation == "GetEmailTemplate":
            return self.templates.get(params["name"])
        if operation == "UpdateEmailTemplate":
            return self.templates.update(params["name"], body)
        if operation == "DeleteEmailTemplate":
            return self.templates.delete(params["name"])
        if operation == "GetAccount":
            return self.account()
        if operation == "CreateEmailIdentity":
            return self.identities.create(body, verified=self.auto_verify_identities)
        if operation == "GetEmailIdentity":
            return self.identities.get(params["name"])
        raise SesError("NotFoundException", f"Unknown operation {request.method} {request.path}", status=404)

    def account(self) -> dict[str, Any]:
        return {
            "ProductionAccessEnabled": True,
            "SendingEnabled": True,
            "EnforcementStatus": "HEALTHY",
            "SendQuota": {
                "Max24HourSend": self.max_24_hour_send or DEFAULT_MAX_24_HOUR_SEND,
                "MaxSendRate": self.rate_per_second or 14.0,
                "SentLast24Hours": float(self.by_recipient.total()),
            },
        }

    # --- sending -----------------------------------------------------------------------------

    def send_email(self, body: dict[str, Any]) -> dict[str, Any]:
        content = body.get("Content") or {}
        to, cc, bcc = render.destination_lists(body.get("Destination"))
        from_address = body.get("FromEmailAddress") or ""
        if "Raw" in content:
            parsed = render.render_raw(render.decode_raw(content["Raw"]), full=self.store_messages)
            from_address = from_address or parsed.pop("from")
            if not (to or cc or bcc):
                to, cc = parsed["to"], parsed["cc"]
            rendered = {key: value for key, value in parsed.items() if key not in ("to", "cc")}
        elif "Simple" in content:
            rendered = render.render_simple(content["Simple"])
        elif "Template" in content:
            rendered = self.render_template(content["Template"], None, None)
        else:
            raise SesError("BadRequestException", "Content needs one of Simple, Raw or Template.")
        if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
            raise SesError("BadRequestException", f"Recipient count exceeds {MAX_RECIPIENTS}.")
        self.check_send(from_address, len(to) + len(cc) + len(bcc))
        if rejected := [a for a in to + cc + bcc if render.address_key(a) in self.reject]:
            self.recipients_rejected += len(rejected)
            raise SesError("MessageRejected", f"Recipient address rejected: {', '.join(rejected)}")
        return {"MessageId": self.accept("SendEmail", from_address, to, cc, bcc, rendered, body.get("EmailTags"))}

    def send_bulk_email(self, body: dict[str, Any]) -> dict[str, Any]:
        template = (body.get("DefaultContent") or {}).get("Template")
        entries = body.get("BulkEmailEntries") or []
        if not isinstance(template, dict):
            raise SesError("BadRequestException", "DefaultContent.Template is required.")
        if not 1 <= len(entries) <= MAX_BULK_ENTRIES:
            raise SesError("BadRequestException", f"BulkEmailEntries must hold 1 to {MAX_BULK_ENTRIES} entries.")
        destinations = [render.destination_lists(entry.get("Destination")) for entry in entries]
        from_address = body.get("FromEmailAddress") or ""
        self.check_send(from_address, sum(len(to) + len(cc) + len(bcc) for to, cc, bcc in destinations))
        defaults = render.template_data(template.get("TemplateData"))
        results = [
            self.send_entry(from_address, template, defaults, entry, dests, body)
            for entry, dests in zip(entries, destinations, strict=True)
        ]
        return {"BulkEmailEntryResults": results}

    def send_entry(
        self,
        from_address: str,
        template: dict[str, Any],
        defaults: dict[str, Any],
        entry: dict[str, Any],
        destination: tuple[list[str], list[str], list[str]],
        body: dict[str, Any],
    ) -> dict[str, str]:
        to, cc, bcc = destination
        if not 1 <= len(to) + len(cc) + len(bcc) <= MAX_RECIPIENTS:
            return {"Status": "INVALID_PARAMETER", "Error": f"Destination must hold 1 to {MAX_RECIPIENTS} recipients."}
        if rejected := [a for a in to + cc + bcc if render.address_key(a) in self.reject]:
            self.recipients_rejected += len(rejected)
            return {"Status": "MESSAGE_REJECTED", "Error": f"Recipient address rejected: {', '.join(rejected)}"}
        replacement = ((entry.get("ReplacementEmailContent") or {}).get("ReplacementTemplate") or {}).get(
            "ReplacementTemplateData"
        )
        try:
            data = {**defaults, **render.template_data(replacement, "ReplacementTemplateData")}
            rendered = self.render_template(template, data, entry.get("ReplacementHeaders"))
        except SesError as error:
            status = "TEMPLATE_NOT_FOUND" if error.code == "NotFoundException" else "INVALID_PARAMETER"
            return {"Status": status, "Error": error.message}
        tags = entry.get("ReplacementTags") or body.get("DefaultEmailTags")
        return {
            "Status": "SUCCESS",
            "MessageId": self.accept("SendBulkEmail", from_address, to, cc, bcc, rendered, tags),
        }

    def render_template(
        self, template: dict[str, Any], data: dict[str, Any] | None, extra_headers: list[dict[str, str]] | None
    ) -> dict[str, Any]:
        """Resolve a stored or inline template; render it only when messages are stored."""
        name = template_name_from(template)
        content = self.templates.content(name) if name else template.get("TemplateContent")
        if not isinstance(content, dict):
            raise SesError("BadRequestException", "Template needs TemplateName, TemplateArn or TemplateContent.")
        if data is None:
            data = render.template_data(template.get("TemplateData"))
        if not self.store_messages:
            return {}
        headers = render.merge_headers(template.get("Headers"), extra_headers)
        return {
            **render.render_template(content, data),
            "headers": headers,
            "template_name": name,
            "template_data": data,
        }

    def check_send(self, from_address: str, recipient_count: int) -> None:
        if not from_address:
            raise SesError("BadRequestException", "FromEmailAddress is required.")
        if self.bucket is not None and self.bucket.take(recipient_count):
            raise SesError("TooManyRequestsException", "Maximum sending rate exceeded.")
        if self.max_24_hour_send and self.by_recipient.total() + recipient_count > self.max_24_hour_send:
            raise SesError("LimitExceededException", "Daily message quota exceeded.")
        if self.require_verified_sender:
            self.identities.check_sender(from_address)

    def accept(
        self,
        operation: str,
        from_address: str,
        to: list[str],
        cc: list[str],
        bcc: list[str],
        rendered: dict[str, Any],
        tags: Any,
    ) -> str:
        message_id = f"0100{int(time.time() * 1000):012x}-{next(self._ids):08x}-{uuid.uuid4()}-000000"
        self.messages_accepted += 1
        self.by_recipient.update(render.address_key(address) for address in to + cc + bcc)
        if self.store_messages:
            self.stored.append(
                {
                    "message_id": message_id,
                    "operation": operation,
                    "from": from_address,
                    "to": to,
                    "cc": cc,
                    "bcc": bcc,
                    "subject": None,
                    "text": None,
                    "html": None,
                    "headers": [],
                    "tags": tags or [],
                    "received_at": time.time(),
                    **rendered,
                }
            )
        return message_id


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("Amazon SES v2 API emulator")
    parser.add_argument("--rate", type=float, default=None, help="maximum send rate, recipients per second")
    parser.add_argument("--no-store", action="store_true", help="count recipients only, keep no messages")
    parser.add_argument("--require-verified-sender", action="store_true")
    args = parser.parse_args(argv)
    options = {"rate_per_second": args.rate, "store_messages": not args.no_store}
    serve_forever(
        SESv2Emulator(require_verified_sender=args.require_verified_sender, **options, **common_options(args))
    )


if __name__ == "__main__":
    main()
