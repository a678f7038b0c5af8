"""A Microsoft Teams Workflows webhook emulator: the "When a Teams webhook request is received"
trigger of a flow that posts the Adaptive Card it is sent to a channel.

    with TeamsEmulator() as teams:
        url = teams.flow_url()               # .../workflows/<id>/triggers/manual/paths/invoke?...&sig=<sig>
        requests.post(url, json={"type": "message", "attachments": [card]}).status_code   # 202
        teams.messages()[0]["card"]          # the Adaptive Card the flow posted
        teams.turn_off(url)                  # now 400 WorkflowTriggerIsNotEnabled

    python -m tests.emulators.teams --port 0 --rate-limit 4/1

`POST /workflows/{id}/triggers/manual/paths/invoke` (Logic Apps form, prod-NN.<region>.logic.azure.com)
and `/powerautomate/automations/direct/workflows/{id}/triggers/manual/paths/invoke` (Power
Platform form), with `sig` in the query, answered as the request trigger answers
(https://learn.microsoft.com/en-us/azure/logic-apps/logic-apps-http-endpoint):
- 202 Accepted, empty body, `x-ms-workflow-run-id` and `x-ms-tracking-id`: the run started;
- 401 DirectApiAuthorizationRequired without `sig` (a flow not open to "Anyone"),
  DirectApiInvalidAuthorizationSignature with a wrong one;
- 404 WorkflowNotFound for a deleted flow; 400 WorkflowTriggerIsNotEnabled for one turned off;
- 400 InvalidRequestContent for a body that is not JSON, TriggerInputSchemaMismatch for one that
  is not a message with Adaptive Card attachments (the Workflows template's schema);
- 429 WorkflowRequestsThrottled with Retry-After over `rate_limit` ("4/1": 4 per second per
  flow, as Teams states for a channel's webhook); errors are {"error": {"code", "message"}}.
The run itself posts the card after the 202: a card over Teams' ~28 KB message limit, or without
a body, fails there ("RequestEntityTooLarge"), so its caller never hears of it; messages()
records such runs with `posted: false` and `run_error`. Any well-formed flow ID with any
signature is accepted unless registered (flow_url) with another one.
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from collections import Counter
from typing import Any, ClassVar

from tests.emulators.base import Emulator, Fault, cli_parser, common_options, serve_forever
from tests.emulators.httpserver import Request, Response, reason_phrase
from tests.emulators.limits import WindowsPerKey, whole_seconds

FLOW_PATH = re.compile(
    r"/(?:powerautomate/automations/direct/)?workflows/(?P<id>[0-9a-fA-F]{32})/triggers/manual/paths/invoke/?"
)
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024  # https://learn.microsoft.com/en-us/microsoftteams/limits-specifications-teams
ERRORS = {  # code -> (status, message), as the Logic Apps request trigger words them
    "DirectApiAuthorizationRequired": (401, "The request must be authenticated only by Shared Access scheme."),
    "DirectApiInvalidAuthorizationSignature": (401, "The provided authorization signature is not valid."),
    "WorkflowNotFound": (404, "The workflow could not be found."),
    "WorkflowTriggerIsNotEnabled": (400, "The workflow is not enabled."),
    "InvalidRequestContent": (400, "The request content is not valid and could not be deserialized."),
    "TriggerInputSchemaMismatch": (400, "The input body for trigger 'manual' did not match its schema definition."),
    "WorkflowRequestsThrottled": (429, "Rate limit is exceeded. Try again later."),
    "InternalServerError": (500, "Encountered internal server error."),
    "ServiceUnavailable": (503, "The service is currently unavailable."),
}
CODE_FOR_STATUS = {
    401: "DirectApiAuthorizationRequired",
    404: "WorkflowNotFound",
    429: "WorkflowRequestsThrottled",
    503: "ServiceUnavailable",
}


def logic_error(code: str, retry_after: float | None = None, status: int | None = None) -> Response:
    default_status, message = ERRORS.get(code, (status or 500, code))
    headers = {"Retry-After": str(whole_seconds(retry_after))} if retry_after is not None else {}
    headers["x-ms-failure-cause"] = "trigger"
    return Response.json({"error": {"code": code, "message": message}}, status or default_status, headers, error=code)


def schema_problem(body: Any) -> str:
    """Why the Workflows template's trigger schema refuses `body` ("" when it takes it)."""
    if not isinstance(body, dict) or body.get("type") != "message":
        return "type must be 'message'"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "attachments must be a non-empty array"
    for attachment in attachments:
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE:
            return f"attachments[].contentType must be {ADAPTIVE}"
        if not isinstance(attachment.get("content"), dict) or attachment["content"].get("type") != "AdaptiveCard":
            return "attachments[].content must be an AdaptiveCard"
    return ""


class TeamsEmulator(Emulator):
    """Options: rate_limit ("4/1" or {"limit", "window"} per flow; None = unlimited), plus the
    common latency_ms, hang_seconds, down, fail_next, storm."""

    DEFAULTS: ClassVar[dict[str, Any]] = {"rate_limit": None}

    def __init__(self, *, rate_limit: str | dict[str, Any] | None = None, **options: Any) -> None:
        super().__init__(rate_limit=rate_limit, **options)

    def flow_url(self, workflow_id: str | None = None, sig: str | None = None, *, power_platform: bool = False) -> str:
        """Register a flow open to "Anyone" and return its trigger URL, signature included."""
        workflow_id = (workflow_id or uuid.uuid4().hex).lower()
        sig = sig or secrets.token_urlsafe(32)
        with self.lock:
            self.flows[workflow_id] = {"sig": sig, "state": "Enabled"}
        prefix = "/powerautomate/automations/direct" if power_platform else ""
        query = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0"
        return f"{self.endpoint_url}{prefix}/workflows/{workflow_id}/triggers/manual/paths/invoke?{query}&sig={sig}"

    def turn_off(self, url: str) -> None:
        self._set_state(url, "Disabled")

    def delete(self, url: str) -> None:
        self._set_state(url, "Deleted")

    def _set_state(self, url: str, state: str) -> None:
        match = FLOW_PATH.search(url)
        assert match, url
        with self.lock:
            self.flows.setdefault(match["id"].lower(), {"sig": None})["state"] = state

    # --- options, records, stats -------------------------------------------------------------

    def apply_options(self, options: dict[str, Any]) -> None:
        if "rate_limit" in options:
            self.limits.configure(options.pop("rate_limit"))

    def emulator_config(self) -> dict[str, Any]:
        return {"rate_limit": self.limits.as_option(), "flows": {key: dict(value) for key, value in self.flows.items()}}

    def clear_records(self) -> None:
        self.flows: dict[str, dict[str, Any]] = {}
        self.limits = WindowsPerKey()
        self.runs: list[dict[str, Any]] = []
        self.throttled = 0

    def emulator_stats(self) -> dict[str, Any]:
        return {
            "runs": len(self.runs),
            "messages_posted": sum(run["posted"] for run in self.runs),
            "runs_failed": sum(not run["posted"] for run in self.runs),
            "by_workflow": dict(Counter(run["workflow_id"] for run in self.runs if run["posted"])),
            "throttled": self.throttled,
        }

    def messages(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """Every run: workflow_id, run_id, card, body, posted, run_error, received_at."""
        with self.lock:
            return [run for run in self.runs if workflow_id is None or run["workflow_id"] == workflow_id]

    # --- requests ----------------------------------------------------------------------------

    def operation(self, request: Request) -> str:
        return "invoke" if FLOW_PATH.fullmatch(request.path) else f"{request.method} {request.path}"

    def fault_response(self, fault: Fault) -> Response:
        status = fault.status or ERRORS.get(fault.code, (500, ""))[0]
        if status in (502, 504) and not fault.code:  # the gateway in front answers with a page
            page = f"<html><body><h1>{status} {reason_phrase(status)}</h1></body></html>".encode()
            return Response(status, page, {"Content-Type": "text/html"}, error=str(status))
        code = (
            fault.code
            or CODE_FOR_STATUS.get(status)
            or ("ServiceUnavailable" if status == 503 else "InternalServerError")
        )
        retry_after = fault.retry_after if fault.retry_after is not None else (1 if status == 429 else None)
        return logic_error(code, retry_after, status)

    def handle_api(self, request: Request) -> Response:
        match = FLOW_PATH.fullmatch(request.path)
        if request.method != "POST" or not match:
            return logic_error("WorkflowNotFound")
        workflow_id = match["id"].lower()
        if problem := self.authorize(workflow_id, request.query_value("sig")):
            return problem
        window = self.limits.window(workflow_id)
        if window is not None and (wait := window.take()):
            self.throttled += 1
            return logic_error("WorkflowRequestsThrottled", wait)
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            return logic_error("InvalidRequestContent")
        if schema_problem(body):
            return logic_error("TriggerInputSchemaMismatch")
        return self.run(workflow_id, body, len(request.body))

    def authorize(self, workflow_id: str, sig: str | None) -> Response | None:
        flow = self.flows.get(workflow_id, {"sig": None, "state": "Enabled"})
        if flow["state"] == "Deleted":
            return logic_error("WorkflowNotFound")
        if not sig:
            return logic_error("DirectApiAuthorizationRequired")
        if flow["sig"] is not None and not secrets.compare_digest(sig, flow["sig"]):
            return logic_error("DirectApiInvalidAuthorizationSignature")
        if flow["state"] != "Enabled":
            return logic_error("WorkflowTriggerIsNotEnabled")
        return None

    def run(self, workflow_id: str, body: dict[str, Any], size: int) -> Response:
        card = body["attachments"][0]["content"]
        run_error = "RequestEntityTooLarge" if size > MAX_MESSAGE_BYTES else ("" if card.get("body") else "EmptyCard")
        run_id = f"0858{time.time_ns() % 10**16:016d}{secrets.randbelow(10**6):06d}CU00"
        self.runs.append(
            {
                "workflow_id": workflow_id,
                "run_id": run_id,
                "card": card,
                "body": body,
                "posted": not run_error,
                "run_error": run_error,
                "received_at": time.time(),
            }
        )
        headers = {"x-ms-workflow-run-id": run_id, "x-ms-tracking-id": str(uuid.uuid4())}
        return Response(202, b"", headers)


def main(argv: list[str] | None = None) -> None:
    parser = cli_parser("Microsoft Teams Workflows webhook emulator")
    parser.add_argument("--rate-limit", default=None, help='requests per window per flow, e.g. "4/1"')
    args = parser.parse_args(argv)
    serve_forever(TeamsEmulator(rate_limit=args.rate_limit, **common_options(args)))


if __name__ == "__main__":
    main()
