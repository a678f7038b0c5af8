"""Amazon SES v2 SendBulkEmail, built and sent directly from prepared rows.

anymail builds this request by parsing every recipient's address into an object and botocore
validates, serializes and parses it through its service model: together a quarter of a
worker's time in a large send. Bulletin's recipients are plain addresses and its request is
always the same shape, so `bulk_params` writes the request body anymail would write (the test
suite compares the two field by field) and `SesBulkSender` signs it with botocore's own SigV4
signer and posts it through the adapter's OutboundSession (core.outbound: SSRF rules apply).
Errors come back as SES sends them (rest-json: the code in `x-amzn-ErrorType`, the text in
`message`) and are classified by channels_app.adapters.ses_errors, as before.
https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendBulkEmail.html
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from anymail.utils import parse_address_list
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from channels_app.adapters.base import MessageTemplate, RenderedMessage, TransientProviderError
from core.outbound.http import OutboundSession

PATH = "/v2/email/outbound-bulk-emails"


def format_address(address: str, idna_encode: Callable[[str], str]) -> str:
    """As anymail formats an address for SES (RFC 2047 display names, IDNA domains, with the
    backend's `idna_encode`); a plain ASCII address, what subscribers have, is already that."""
    if address.isascii() and "<" not in address and "," not in address and '"' not in address:
        return address
    return parse_address_list([address])[0].format(use_rfc2047=True, idna_encode=idna_encode)


def bulk_params(
    *,
    from_email: str,
    reply_to: str = "",
    configuration_set: str = "",
    template: MessageTemplate,
    messages: Sequence[RenderedMessage],
    idna_encode: Callable[[str], str],
) -> dict[str, Any]:
    """The SendBulkEmail request for one chunk: the template inline, one entry per recipient
    with its replacement data and headers (field for field what anymail builds)."""
    params: dict[str, Any] = {}
    if configuration_set:
        params["ConfigurationSetName"] = configuration_set
    params["FromEmailAddress"] = format_address(from_email, idna_encode)
    if reply_to:
        params["ReplyToAddresses"] = [format_address(reply_to, idna_encode)]
    params["DefaultContent"] = {
        "Template": {
            "TemplateContent": {"Subject": template.subject, "Html": template.html, "Text": template.text},
            "TemplateData": "{}",
        }
    }
    params["BulkEmailEntries"] = [_entry(m, idna_encode) for m in messages]
    return params


def _entry(message: RenderedMessage, idna_encode: Callable[[str], str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Destination": {"ToAddresses": [format_address(message.recipient, idna_encode)]},
        "ReplacementEmailContent": {
            "ReplacementTemplate": {"ReplacementTemplateData": json.dumps(dict(message.variables))}
        },
    }
    if message.headers:
        entry["ReplacementHeaders"] = [{"Name": name, "Value": value} for name, value in message.headers.items()]
    return entry


class SesCallError(Exception):
    """SES refused the call as a whole: its error code, message, HTTP status and Retry-After."""

    def __init__(self, code: str, message: str, status: int, retry_after: float | None):
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status, self.retry_after = code, message, status, retry_after


class SesBulkSender:
    """Signs and posts SendBulkEmail requests for one channel (endpoint, region, credentials)."""

    def __init__(self, *, client: Any, credentials: Any, session: OutboundSession, timeout: tuple[float, float]):
        self.url = client.meta.endpoint_url.rstrip("/") + PATH
        self.region = client.meta.region_name
        self.signing_name = client.meta.service_model.signing_name
        self.credentials = credentials  # botocore credentials: refreshed by botocore when they expire
        self.session, self.timeout = session, timeout

    def send(self, params: Mapping[str, Any]) -> dict[str, Any]:
        body = json.dumps(params, separators=(",", ":")).encode()
        request = AWSRequest(method="POST", url=self.url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(self.credentials.get_frozen_credentials(), self.signing_name, self.region).add_auth(request)
        try:
            response = self.session.post(self.url, data=body, headers=dict(request.headers), timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransientProviderError("SES unreachable: the call timed out") from exc
        except requests.RequestException as exc:
            raise TransientProviderError(f"SES unreachable: {type(exc).__name__}") from exc
        if 200 <= response.status_code < 300:
            return response.json()
        raise _call_error(response)


def _call_error(response: requests.Response) -> SesCallError:
    try:
        payload = response.json()
    except ValueError:
        payload = {}
    payload = payload if isinstance(payload, dict) else {}
    code = response.headers.get("x-amzn-ErrorType", "") or str(payload.get("__type") or payload.get("code") or "")
    code = code.split(":", 1)[0].rsplit("#", 1)[-1]
    message = str(payload.get("message") or payload.get("Message") or "")[:300]
    try:
        retry_after = float(response.headers["Retry-After"]) if response.headers.get("Retry-After") else None
    except ValueError:
        retry_after = None
    return SesCallError(code, message, response.status_code, retry_after)
