"""Short, safe reasons for what a provider answered.

What an outside server sends back is not ours to store or show: an HTML error page, a body
echoing our token, a megabyte of text. Delivery.last_error, Channel.disabled_reason, the
channel test answer and our log lines carry only a short reason made here: the status, and at
most a short message field from a JSON body, with URLs cut to scheme and host and anything
that looks like a credential replaced.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

REASON_LIMIT = 300
DETAIL_LIMIT = 120
# From the first tag of a page to the end (an address such as <p@example.com> is not a tag).
_HTML = re.compile(
    r"<\s*(?:!doctype|html|head|body|title|div|p|h[1-6]|pre|center|script|style|table)(?=[\s/>])[\s\S]*", re.I
)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
_SECRET = re.compile(
    r"xox[a-z]-[A-Za-z0-9-]+"  # Slack tokens
    r"|whsec_[A-Za-z0-9+/=]+"  # Standard Webhooks secrets
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\beyJ[\w-]+\.[\w-]+\.[\w-]*"  # JWTs
    r"|(?i:bearer|basic|token)\s+[\w.~+/=-]{8,}"  # Authorization values
    r"|\b[A-Za-z0-9_+/=]{32,}"  # long opaque strings: keys, signatures
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "title", "Message", "Error")


def sanitize_url(url: str) -> str:
    """Scheme, host and port, and a mark when there was more: paths and queries hold tokens
    (a Discord webhook URL is its credential)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(invalid URL)"
    rest = "/…" if parts.path not in ("", "/") or parts.query else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{rest}"


def short_reason(text: Any, limit: int = REASON_LIMIT) -> str:
    """One line, no HTML, no URLs beyond their host, no credentials, at most `limit` characters."""
    text = _HTML.sub("(HTML omitted)", str(text))
    text = _URL.sub(lambda match: sanitize_url(match.group(0)), text)
    text = _SECRET.sub("[redacted]", text)
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def http_reason(status: int, reason_phrase: str = "", content_type: str = "", body: bytes = b"") -> str:
    """'HTTP 404 Not Found: Unknown Webhook': the status, and a JSON body's message field or a
    short plain-text body. HTML and other bodies are left out."""
    reason = f"HTTP {status} {short_reason(reason_phrase, 40)}".rstrip()
    detail = _body_detail(content_type.lower(), body[:65536])
    return f"{reason}: {detail}" if detail else reason


def _body_detail(content_type: str, body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        return short_reason(_json_message(data), DETAIL_LIMIT)
    if content_type.startswith("text/plain") and text:
        return short_reason(text, DETAIL_LIMIT)
    return ""


def _json_message(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    for key in _MESSAGE_KEYS:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict):  # {"error": {"message": ...}}
            return _json_message(value)
    return ""
