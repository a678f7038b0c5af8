"""Emulators of the send APIs of the anymail ESPs Bulletin offers besides SES: Postmark, SendGrid,
Mailgun and Brevo, each answering as its documentation says (paths, authentication, response
shapes, error bodies). Point a channel's `api_url` config at `.api_url`.

    with PostmarkEmulator(token="pm-token") as postmark:
        channel config {"esp": "postmark", "api_url": postmark.api_url}, credentials {"server_token": "pm-token"}
        postmark.messages()  ->  [{"to", "subject", "html", "text", "headers", "message_id"}]
        postmark.configure(inactive=["gone@example.com"])   # a recipient the ESP refuses

- Postmark  POST /email, X-Postmark-Server-Token; 200 {To, SubmittedAt, MessageID, ErrorCode: 0,
  Message: "OK"}; 401 ErrorCode 10; 422 ErrorCode 300 (invalid request) / 406 (inactive
  recipient). https://postmarkapp.com/developer/api/email-api, .../api/overview#error-codes
- SendGrid  POST /v3/mail/send, Authorization: Bearer <key>; 202, empty body, X-Message-Id;
  errors {"errors": [{"message", "field", "help"}]}. https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
- Mailgun   POST /v3/<domain>/messages, basic auth api:<key>, form fields (from, to, subject,
  text, html, h:<header>); 200 {"id": "<...@domain>", "message": "Queued. Thank you."}; 401
  "Forbidden" (text); 404 {"message": "Domain not found: ..."}. https://documentation.mailgun.com/docs/mailgun/api-reference/openapi-final/tag/Messages/
- Brevo     POST /v3/smtp/email, api-key header; 201 {"messageId": "<...@smtp-relay.mailin.fr>"};
  errors {"code", "message"} (401 unauthorized, 400 invalid_parameter, 429 too_many_requests).
  https://developers.brevo.com/reference/sendtransacemail
Every one answers 429 and 5xx through the common fault options (fail_next, storm, down).

    python -m tests.emulators.esps postmark --port 0 --credential pm-token
The webhooks these ESPs post back are built by tests/emulators/esp_events.py.
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qs

from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.httpserver import Request, Response, reason_phrase


class EspEmulator(Emulator):
    """What the four share: a credential, recorded messages, refused recipients."""

    esp: ClassVar[str]
    prefix: ClassVar[str] = ""
    DEFAULTS: ClassVar[dict[str, Any]] = {"inactive": ()}

    def __init__(self, *, credential: str = "emulator-key", **options: Any) -> None:
        self.credential = credential
        super().__init__(**options)

    @property
    def api_url(self) -> str:
        return f"{self.endpoint_url}{self.prefix}"

    def describe(self) -> dict[str, str]:
        return {**super().describe(), "api_url": self.api_url, "esp": self.esp}

    def apply_options(self, options: dict[str, Any]) -> None:
        if "inactive" in options:
            self.inactive = {str(a).lower() for a in options.pop("inactive") or ()}

    def emulator_config(self) -> dict[str, Any]:
        return {"inactive": sorted(self.inactive)}

    def clear_records(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(m) for m in self.sent if all(str(m.get(k)) == v for k, v in filters.items())]

    def emulator_stats(self) -> dict[str, Any]:
        return {"messages": len(self.sent)}

    def channel_settings(self, from_email: str = "News <news@mg.example.com>") -> tuple[dict, dict]:
        """An email channel's config and credentials that send through this emulator."""
        config = {"esp": self.esp, "from_email": from_email, "api_url": self.api_url}
        return config, {"server_token" if self.esp == "postmark" else "api_key": self.credential}

    def record(self, *, to: str, subject: str, html: str, text: str, headers: dict, message_id: str) -> dict:
        message = {
            "to": to,
            "subject": subject,
            "html": html,
            "text": text,
            "headers": headers,
            "message_id": message_id,
        }
        self.sent.append(message)
        return message


class PostmarkEmulator(EspEmulator):
    esp = "postmark"

    def operation(self, request: Request) -> str:
        return request.path.strip("/") or "/"

    def handle_api(self, request: Request) -> Response:
        if request.method != "POST" or request.path.rstrip("/") != "/email":
            return postmark_error(404, 0, "Not found")  # batch and template endpoints: not used by Bulletin
        if request.headers.get("x-postmark-server-token") != self.credential:
            message = "The Server Token you provided in the X-Postmark-Server-Token header was invalid."
            return postmark_error(401, 10, message)
        try:
            data = request.json()
            to, sender, subject = str(data["To"]), str(data["From"]), str(data.get("Subject", ""))
        except (ValueError, KeyError, TypeError):
            return postmark_error(422, 300, "Invalid email request")
        if not sender or "@" not in to:
            return postmark_error(422, 300, "Invalid 'To' address.")
        if to.lower() in self.inactive:
            return postmark_error(
                422,
                406,
                "You tried to send to a recipient that has been marked as inactive.\n"
                f"Found inactive addresses: {to.lower()}.\n"
                "Inactive recipients are ones that have generated a hard bounce or a spam complaint. ",
            )
        headers = {h["Name"]: h["Value"] for h in data.get("Headers") or []}
        message_id = str((data.get("Metadata") or {}).get("anymail_id") or uuid.uuid4())
        self.record(
            to=to,
            subject=subject,
            html=data.get("HtmlBody", ""),
            text=data.get("TextBody", ""),
            headers=headers,
            message_id=message_id,
        )
        submitted = datetime.now(UTC).isoformat()
        answer = {"To": to, "SubmittedAt": submitted, "MessageID": message_id, "ErrorCode": 0, "Message": "OK"}
        return Response.json(answer)

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return postmark_error(status, 0, fault.message or reason_phrase(status))


def postmark_error(status: int, code: int, message: str) -> Response:
    return Response.json({"ErrorCode": code, "Message": message}, status, error=f"{status}/{code}")


class SendGridEmulator(EspEmulator):
    esp = "sendgrid"
    prefix = "/v3/"

    def handle_api(self, request: Request) -> Response:
        if request.method != "POST" or request.path.rstrip("/") != "/v3/mail/send":
            return sendgrid_error(404, "Not found")
        if request.headers.get("authorization") != f"Bearer {self.credential}":
            return sendgrid_error(401, "The provided authorization grant is invalid, expired, or revoked")
        try:
            data = request.json()
            personalizations = data["personalizations"]
            content = {c["type"]: c["value"] for c in data.get("content") or []}
            recipients = [(p, t["email"]) for p in personalizations for t in p["to"]]
        except (ValueError, KeyError, TypeError):
            return sendgrid_error(400, "Bad Request", field=None)
        if not data.get("from", {}).get("email"):
            return sendgrid_error(400, "The from object must be provided for every email send.", field="from")
        x_message_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        for personalization, to in recipients:
            # Events carry the personalization's custom_args (anymail's anymail_id): its message id.
            anymail_id = (personalization.get("custom_args") or {}).get("anymail_id") or x_message_id
            self.record(
                to=to,
                subject=str(personalization.get("subject") or data.get("subject", "")),
                html=content.get("text/html", ""),
                text=content.get("text/plain", ""),
                headers={**(data.get("headers") or {}), **(personalization.get("headers") or {})},
                message_id=anymail_id,
            )
            self.sent[-1]["sg_message_id"] = f"{x_message_id}.filter0001.{int(time.time())}.0"
        return Response(202, b"", {"X-Message-Id": x_message_id})

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after else {}
        response = sendgrid_error(status, fault.message or reason_phrase(status))
        response.headers.update(headers)
        return response


def sendgrid_error(status: int, message: str, field: str | None = None) -> Response:
    return Response.json({"errors": [{"message": message, "field": field, "help": None}]}, status, error=str(status))


class MailgunEmulator(EspEmulator):
    esp = "mailgun"
    prefix = "/v3"
    DEFAULTS: ClassVar[dict[str, Any]] = {"inactive": (), "domains": ("mg.example.com",)}

    def apply_options(self, options: dict[str, Any]) -> None:
        if "domains" in options:
            self.domains = set(options.pop("domains") or ())
        super().apply_options(options)

    def handle_api(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if request.method != "POST" or len(parts) != 3 or parts[0] != "v3" or parts[2] != "messages":
            return Response.json({"message": "Not Found"}, 404, error="404")
        if _basic_auth(request) != f"api:{self.credential}":
            return Response(401, b"Forbidden", {"Content-Type": "text/plain"}, error="401")
        if parts[1] not in self.domains:
            return Response.json({"message": f"Domain not found: {parts[1]}"}, 404, error="domain")
        form = _form_fields(request)
        to = (form.get("to") or [""])[0]
        if "@" not in to or not form.get("from"):
            return Response.json({"message": "'to' parameter is not a valid address. please check documentation"}, 400)
        message_id = f"<{datetime.now(UTC):%Y%m%d%H%M%S}.{secrets.token_hex(8).upper()}@{parts[1]}>"
        headers = {k[2:]: v[-1] for k, v in form.items() if k.startswith("h:")}
        subject, html, text = ((form.get(name) or [""])[-1] for name in ("subject", "html", "text"))
        self.record(to=to, subject=subject, html=html, text=text, headers=headers, message_id=message_id)
        return Response.json({"id": message_id, "message": "Queued. Thank you."})

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        return Response.json({"message": fault.message or reason_phrase(status)}, status, error=str(status))


class BrevoEmulator(EspEmulator):
    esp = "brevo"
    prefix = "/v3/"

    def handle_api(self, request: Request) -> Response:
        if request.method != "POST" or request.path.rstrip("/") != "/v3/smtp/email":
            return brevo_error(404, "not_found", "Invalid route")
        if request.headers.get("api-key") != self.credential:
            return brevo_error(401, "unauthorized", "Key not found")
        try:
            data = request.json()
            to = [t["email"] for t in data["to"]]
            sender = data["sender"]["email"]
        except (ValueError, KeyError, TypeError):
            return brevo_error(400, "invalid_parameter", "sender and to are required")
        if not sender or not all("@" in t for t in to):
            return brevo_error(400, "invalid_parameter", "email is not valid in to")
        message_id = f"<{datetime.now(UTC):%Y%m%d%H%M}.{secrets.randbelow(10**10):010d}@smtp-relay.mailin.fr>"
        for address in to:
            self.record(
                to=address,
                subject=data.get("subject", ""),
                html=data.get("htmlContent", ""),
                text=data.get("textContent", ""),
                headers=data.get("headers") or {},
                message_id=message_id,
            )
        return Response.json({"messageId": message_id}, 201)

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        code = {429: "too_many_requests", 401: "unauthorized"}.get(status, "internal_error")
        return brevo_error(status, code, fault.message or reason_phrase(status))


def brevo_error(status: int, code: str, message: str) -> Response:
    return Response.json({"code": code, "message": message}, status, error=code)


def _basic_auth(request: Request) -> str:
    value = request.headers.get("authorization", "")
    if not value.startswith("Basic "):
        return ""
    try:
        return base64.b64decode(value[6:]).decode()
    except ValueError:
        return ""


def _form_fields(request: Request) -> dict[str, list[str]]:
    """Mailgun's form: urlencoded, or multipart/form-data (as with attachments)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/"):
        return parse_qs(request.body.decode(), keep_blank_values=True)
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields.setdefault(name, []).append(part.get_content() if part.get_content_maintype() == "text" else "")
    return fields


ESP_EMULATORS: dict[str, type[EspEmulator]] = {
    "postmark": PostmarkEmulator,
    "sendgrid": SendGridEmulator,
    "mailgun": MailgunEmulator,
    "brevo": BrevoEmulator,
}


def main() -> None:
    parser = cli_parser("An ESP send API emulator: Postmark, SendGrid, Mailgun or Brevo.")
    parser.add_argument("esp", choices=sorted(ESP_EMULATORS))
    parser.add_argument("--credential", default="emulator-key", help="the server token / API key it accepts")
    args = parser.parse_args()
    serve_forever(ESP_EMULATORS[args.esp](credential=args.credential, **common_options(args)))


if __name__ == "__main__":
    main()
