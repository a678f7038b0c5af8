"""Turning a SendEmail / SendBulkEmail content block into what SES would deliver.

Content is one of Simple (subject and bodies), Raw (a base64 MIME message, botocore encodes
the blob) or Template (stored or inline, rendered with TemplateData), see
https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_EmailContent.html.
"""

from __future__ import annotations

import base64
import binascii
import json
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parseaddr
from typing import Any

from tests.emulators import handlebars
from tests.emulators.sesv2_store import SesError

Headers = list[dict[str, str]]  # [{"Name": ..., "Value": ...}], SES's MessageHeaderList


def address_key(address: str) -> str:
    """The addr-spec of "Name <a@b>" (or of an RFC 2047 encoded name), lower-cased, for accounting."""
    if not any(char in address for char in '<"(, '):
        return address.lower()  # a bare addr-spec; parseaddr costs ~30 µs, a third of a request
    return parseaddr(address)[1].lower() or address.lower()


def destination_lists(destination: dict[str, Any] | None) -> tuple[list[str], list[str], list[str]]:
    destination = destination or {}
    return (
        list(destination.get("ToAddresses") or []),
        list(destination.get("CcAddresses") or []),
        list(destination.get("BccAddresses") or []),
    )


def template_data(text: str | None, what: str = "TemplateData") -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise SesError("BadRequestException", f"{what} is not valid JSON.") from None
    if not isinstance(data, dict):
        raise SesError("BadRequestException", f"{what} must be a JSON object.")
    return data


def merge_headers(defaults: Headers | None, replacements: Headers | None) -> Headers:
    """Default headers overridden, name by name (case-insensitively), by an entry's ReplacementHeaders."""
    replaced = {header["Name"].lower() for header in replacements or []}
    kept = [header for header in defaults or [] if header["Name"].lower() not in replaced]
    return kept + list(replacements or [])


def render_template(content: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    return {
        "subject": handlebars.render(content.get("Subject") or "", data),
        "text": handlebars.render(content["Text"], data) if content.get("Text") is not None else None,
        "html": handlebars.render(content["Html"], data) if content.get("Html") is not None else None,
    }


def render_simple(simple: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(simple.get("Subject"), dict) or not isinstance(simple.get("Body"), dict):
        raise SesError("BadRequestException", "Simple content needs Subject and Body.")
    body = simple["Body"]
    return {
        "subject": simple["Subject"].get("Data", ""),
        "text": (body.get("Text") or {}).get("Data"),
        "html": (body.get("Html") or {}).get("Data"),
        "headers": list(simple.get("Headers") or []),
    }


def decode_raw(raw: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(raw.get("Data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise SesError("BadRequestException", "Raw.Data is not valid base64.") from None


def render_raw(data: bytes, full: bool) -> dict[str, Any]:
    """Headers, addresses and (when `full`) the text and HTML parts of a raw MIME message."""
    if not full:
        headers = BytesHeaderParser(policy=policy.compat32).parsebytes(data)
        return {
            "from": headers.get("From", ""),
            "to": _header_addresses(headers, "To"),
            "cc": _header_addresses(headers, "Cc"),
        }
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    return {
        "from": str(message.get("From", "")),
        "to": _header_addresses(message, "To"),
        "cc": _header_addresses(message, "Cc"),
        "subject": str(message.get("Subject", "")),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "headers": [{"Name": name, "Value": str(value)} for name, value in message.items()],
        "raw": data.decode("ascii", "replace"),
    }


def _header_addresses(message: Any, name: str) -> list[str]:
    return [address for _, address in getaddresses([str(value) for value in message.get_all(name, [])]) if address]
