"""SES v2 errors and the resources an account keeps: email templates and sending identities.

Shapes and status codes follow botocore's model (botocore/data/sesv2/2019-09-27/service-2.json)
and the API reference, https://docs.aws.amazon.com/ses/latest/APIReference-V2/.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from tests.emulators.httpserver import Response

# httpStatusCode of each error shape in the botocore model, plus the common errors
# (https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html).
ERROR_STATUS = {
    "AccountSuspendedException": 400,
    "AlreadyExistsException": 400,
    "BadRequestException": 400,
    "LimitExceededException": 400,
    "MailFromDomainNotVerifiedException": 400,
    "MessageRejected": 400,
    "SendingPausedException": 400,
    "NotFoundException": 404,
    "TooManyRequestsException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
}
CODE_FOR_STATUS = {
    400: "BadRequestException",
    404: "NotFoundException",
    429: "TooManyRequestsException",
    500: "InternalFailure",
    503: "ServiceUnavailable",
}
DEFAULT_MESSAGES = {
    "TooManyRequestsException": "Maximum sending rate exceeded.",
    "LimitExceededException": "Daily message quota exceeded.",
    "SendingPausedException": "Sending is paused for this account.",
    "AccountSuspendedException": "Your account's ability to send email has been permanently restricted.",
    "MessageRejected": "Email address is on the account-level suppression list.",
    "BadRequestException": "The input you provided is invalid.",
    "InternalFailure": "An internal error occurred.",
    "ServiceUnavailable": "Service is unavailable.",
}


class SesError(Exception):
    def __init__(self, code: str, message: str = "", status: int | None = None) -> None:
        super().__init__(message or DEFAULT_MESSAGES.get(code, code))
        self.code = code
        self.message = str(self)
        self.status = status or ERROR_STATUS.get(code, 400)


def error_response(error: SesError, retry_after: float | None = None) -> Response:
    """A rest-json error as SES sends it: the code in x-amzn-ErrorType, the text in `message`.

    botocore's RestJSONParser reads the code from that header first and the message from the
    body, so ClientError.response["Error"] gets Code and Message and ResponseMetadata the
    HTTPStatusCode.
    """
    headers = {"x-amzn-ErrorType": error.code, "x-amzn-RequestId": str(uuid.uuid4())}
    if retry_after is not None:
        headers["Retry-After"] = f"{retry_after:g}"
    return Response.json({"message": error.message}, error.status, headers, error=error.code)


def template_name_from(template: dict[str, Any]) -> str | None:
    """TemplateName, or the name at the end of a TemplateArn (arn:aws:ses:...:template/NAME)."""
    if template.get("TemplateName"):
        return template["TemplateName"]
    arn = template.get("TemplateArn") or ""
    return arn.rsplit("/", 1)[-1] or None


class TemplateStore:
    """CreateEmailTemplate and friends; templates are {"Subject", "Text", "Html"} dicts."""

    def __init__(self) -> None:
        self.templates: dict[str, tuple[dict[str, str], float]] = {}

    def content(self, name: str) -> dict[str, str]:
        if name not in self.templates:
            raise SesError("NotFoundException", f"Template {name} does not exist.")
        return self.templates[name][0]

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name, content = body.get("TemplateName"), body.get("TemplateContent")
        if not name or not isinstance(content, dict):
            raise SesError("BadRequestException", "TemplateName and TemplateContent are required.")
        if name in self.templates:
            raise SesError("AlreadyExistsException", f"Template {name} already exists.")
        self.templates[name] = (dict(content), time.time())
        return {}

    def get(self, name: str) -> dict[str, Any]:
        return {"TemplateName": name, "TemplateContent": self.content(name)}

    def update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        created = self.templates.get(name, (None, 0.0))[1]
        self.content(name)
        self.templates[name] = (dict(body.get("TemplateContent") or {}), created)
        return {}

    def delete(self, name: str) -> dict[str, Any]:
        self.content(name)
        del self.templates[name]
        return {}

    def list(self, page_size: int, next_token: str | None) -> dict[str, Any]:
        names = sorted(self.templates)
        start = int(next_token or 0)
        page = names[start : start + page_size]
        result: dict[str, Any] = {
            "TemplatesMetadata": [{"TemplateName": n, "CreatedTimestamp": self.templates[n][1]} for n in page]
        }
        if start + page_size < len(names):
            result["NextToken"] = str(start + page_size)
        return result


@dataclass
class Identity:
    name: str
    verified: bool

    @property
    def kind(self) -> str:
        return "EMAIL_ADDRESS" if "@" in self.name else "DOMAIN"

    def as_response(self) -> dict[str, Any]:
        return {
            "IdentityType": self.kind,
            "VerifiedForSendingStatus": self.verified,
            "VerificationStatus": "SUCCESS" if self.verified else "PENDING",
            "FeedbackForwardingStatus": True,
            "DkimAttributes": {"SigningEnabled": self.kind == "DOMAIN", "Status": "NOT_STARTED"},
        }


class IdentityStore:
    """Email-address and domain identities; a From address is verified through either."""

    def __init__(self) -> None:
        self.identities: dict[str, Identity] = {}

    def create(self, body: dict[str, Any], verified: bool) -> dict[str, Any]:
        name = (body.get("EmailIdentity") or "").lower()
        if not name:
            raise SesError("BadRequestException", "EmailIdentity is required.")
        if name in self.identities:
            raise SesError("AlreadyExistsException", f"Identity {name} already exists.")
        identity = self.identities[name] = Identity(name, verified)
        response = identity.as_response()
        del response["VerificationStatus"], response["FeedbackForwardingStatus"]
        return response

    def get(self, name: str) -> dict[str, Any]:
        identity = self.identities.get(name.lower())
        if identity is None:
            raise SesError("NotFoundException", f"Email identity {name} does not exist.")
        return identity.as_response()

    def verify(self, name: str) -> None:
        self.identities.setdefault(name.lower(), Identity(name.lower(), True)).verified = True

    def check_sender(self, from_address: str) -> None:
        """MessageRejected unless the address or its domain is a verified identity, like SES."""
        address = parseaddr(from_address)[1].lower()
        domain = address.rpartition("@")[2]
        if any(self.identities.get(name, Identity(name, False)).verified for name in (address, domain)):
            return
        raise SesError(
            "MessageRejected",
            "Email address is not verified. The following identities failed the check in region "
            f"US-EAST-1: {from_address}",
        )
