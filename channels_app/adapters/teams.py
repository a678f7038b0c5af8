"""Microsoft Teams through a Workflows webhook: a flow started by "When a Teams webhook request
is received" posts the Adaptive Card it is sent to its channel. We POST a message with the card
as its attachment; the trigger answers 202 Accepted and the flow's run posts it.
https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
Office 365 connector URLs (*.webhook.office.com, outlook.office.com/webhook) are retired: refused.

Limits: a message of about 28 KB at most (cards are cut to fit: a larger one fails in the run,
after the 202, where nobody hears of it); a channel's webhook takes 4 requests a second and 60
per 30 s (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#rate-limiting-for-connectors).
Errors come as Logic Apps' {"error": {"code", "message"}}: DirectApiAuthorizationRequired and
DirectApiInvalidAuthorizationSignature (401: the URL lost its `sig`, or the flow is not open to
"Anyone"), WorkflowNotFound (404) and WorkflowTriggerIsNotEnabled (400: flow deleted or off)
disable the channel; other 4xx refuse the message; 429 WorkflowRequestsThrottled and 5xx are
tried again, after Retry-After.
Text we did not write (titles, names) goes in RichTextBlock TextRuns, which Teams shows as
typed, never as Markdown: https://adaptivecards.io/explorer/TextRun.html
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from channels_app.adapters.base import (
    Audience,
    DemoChannel,
    Limits,
    PermanentProviderError,
    RenderedMessage,
    SendResult,
    SinkAnswer,
    digest,
)
from channels_app.adapters.fields import URLField
from channels_app.adapters.http import HttpAdapter, response_reason, retry_after_seconds
from channels_app.adapters.limits import truncate
from core.outbound import short_reason

MAX_BYTES = 27 * 1024  # under Teams' ~28 KB, with room for what the flow adds
CHANNEL_ERRORS = {
    "DirectApiAuthorizationRequired": "the URL lacks its signature, or the flow is not open to Anyone",
    "DirectApiInvalidAuthorizationSignature": "the URL's signature is wrong: copy the whole URL again",
    "WorkflowNotFound": "the workflow was deleted",
    "WorkflowTriggerIsNotEnabled": "the workflow is turned off or deleted",
}


def plain_text(text: str, **style: Any) -> dict[str, Any]:
    """Text shown as it is: a TextRun, which Teams never reads as Markdown."""
    return {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": text, **style}]}


def card_message(body: list[dict[str, Any]]) -> dict[str, Any]:
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.4"}
    attachment = {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None}
    return {"type": "message", "attachments": [{**attachment, "content": {**card, "body": body}}]}


def fit_card(payload: dict[str, Any]) -> dict[str, Any]:
    """Cut the longest texts until the message fits Teams' size limit."""
    payload = copy.deepcopy(payload)
    blocks = [b for a in payload.get("attachments", []) for b in a.get("content", {}).get("body", [])]
    texts = [t for b in blocks for t in (b, *b.get("inlines", [])) if isinstance(t.get("text"), str)]
    while texts and (excess := len(json.dumps(payload).encode()) - MAX_BYTES) > 0:
        longest = max(texts, key=lambda b: len(b["text"]))
        longest["text"] = truncate(longest["text"], max(1, len(longest["text"]) - excess // 2 - 64))
        if len(longest["text"]) <= 1:
            texts.remove(longest)
    return payload


class TeamsAdapter(HttpAdapter):
    kind = "teams"
    label = "Microsoft Teams"
    description = "A Teams channel, through a Workflows webhook posting Adaptive Cards."
    docs_url = (
        "https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using"
    )
    config_fields = {
        "url": URLField(
            "Workflow URL",
            "Teams channel → ••• → Workflows → “Post to a channel when a webhook request is received”. "
            "It holds its signature: stored encrypted.",
            required=True,
            secret=True,
        ),
    }
    # Per webhook, in fixed windows: 4 in any second and 60 per 30 s. Just under 2/s in pairs
    # keeps within both wherever Teams' windows start.
    limits = Limits(per_second=1.9, burst=2)
    parallelism = 1

    @classmethod
    def check(cls, config: Mapping[str, Any], credentials: Mapping[str, Any]) -> dict[str, str]:
        host = urlsplit(str(credentials["url"])).hostname or ""
        if host.endswith(".webhook.office.com") or host == "outlook.office.com":
            return {"url": "Office 365 connector webhooks are retired: create a Teams Workflows webhook instead"}
        return {}

    def account_key(self) -> str:
        return digest(self.credentials.get("url"))  # the webhook's own limit, whichever channel posts

    @classmethod
    def message_context(cls, context: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "teams_title": ("🚨 " if context["is_alert"] else "") + context["title"],
            "teams_body": truncate(context["body_text"], 12000),
        }

    @classmethod
    def notice(cls, text: str, **webhook_fields: Any) -> dict[str, Any]:
        return card_message([plain_text(text)])

    @classmethod
    def mark_test(cls, payload: Mapping[str, Any], *, banner: str) -> dict[str, Any]:
        payload = copy.deepcopy(dict(payload))
        banner_block = plain_text(f"🧪 TEST · {banner}", color="Warning", weight="Bolder")
        for attachment in payload.get("attachments", []):
            content = attachment.get("content", {})
            content["body"] = [banner_block, *content.get("body", [])]
        return payload

    @classmethod
    def demo_channels(cls, *, sink_url: str) -> list[DemoChannel]:
        url = f"{sink_url}workflows/{'0' * 32}/triggers/manual/paths/invoke?api-version=2016-06-01&sig=demo"
        return [DemoChannel("Demo Teams channel", Audience.BROADCAST, {}, {"url": url})]

    @classmethod
    def sink_answer(cls, body: bytes) -> SinkAnswer:
        return SinkAnswer(202, headers={"x-ms-workflow-run-id": f"demo-{time.time_ns()}"})

    def send_one(self, message: RenderedMessage) -> SendResult:
        body = json.dumps(fit_card(dict(message.payload or {})), separators=(",", ":")).encode()
        return self.result_for(message, self.post_json(self.credentials["url"], data=body))

    def provider_message_id(self, response: requests.Response) -> str:
        return response.headers.get("x-ms-workflow-run-id", "")

    def classify_response(self, message: RenderedMessage, response: requests.Response) -> SendResult:
        code = _error_code(response)
        if code in CHANNEL_ERRORS or response.status_code in (401, 403, 404):
            advice = CHANNEL_ERRORS.get(code, "the workflow cannot be triggered")
            raise PermanentProviderError(f"Teams answered {response_reason(response)} ({code or 'no code'}): {advice}")
        if response.status_code == 429:
            reason = f"Teams rate limited ({code or 429})"
            return SendResult.failed(message, reason, permanent=False, retry_after=retry_after_seconds(response) or 1.0)
        result = super().classify_response(message, response)
        return dataclasses.replace(result, error=short_reason(f"{result.error} ({code})")) if code else result


def _error_code(response: requests.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return ""
    return str(error.get("code", "")) if isinstance(error, dict) else ""
