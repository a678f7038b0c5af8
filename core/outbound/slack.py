"""slack-sdk's WebClient with its transport replaced by ours.

WebClient sends through urllib (`urlopen`, or an opener with a ProxyHandler when HTTPS_PROXY
is set), which follows redirects and resolves the name itself. `GuardedWebClient` overrides
the one method that opens the request, `_perform_urllib_http_request_internal` (slack_sdk/web/
base_client.py, same contract: a dict of status, headers and body), with an opener that
connects through core.outbound.addresses.create_connection, follows no redirect and uses no
proxy. What comes back is read up to a limit, and a body that is not JSON is replaced by a
short reason, so no HTML page reaches slack-sdk's error messages or its logger.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.request
from typing import Any
from urllib.error import HTTPError

from slack_sdk import WebClient

from core.outbound.addresses import create_connection
from core.outbound.http import MAX_BODY_BYTES, check_url
from core.outbound.reasons import http_reason


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = create_connection


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = create_connection  # TLS still verifies the host name


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PinnedHTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_PinnedHTTPSConnection, req, context=self._context)


def pinned_opener(context: ssl.SSLContext | None = None) -> urllib.request.OpenerDirector:
    """An opener for http(s) only: no redirect, proxy, file or ftp handler; non-2xx raise HTTPError."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        _HTTPHandler(),
        _HTTPSHandler(context=context or ssl.create_default_context()),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ):
        opener.add_handler(handler)
    return opener


class GuardedWebClient(WebClient):
    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.proxy = None  # never used: a proxy would resolve the name itself
        self._opener = pinned_opener(self.ssl)

    def _perform_urllib_http_request_internal(self, url: str, req: urllib.request.Request) -> dict[str, Any]:
        check_url(url)
        try:
            response = self._opener.open(req, timeout=self.timeout)
        except HTTPError as error:  # 3xx, 4xx, 5xx: an answer like any other, read the same way
            response = error
        with response:
            body = response.read(MAX_BODY_BYTES)
            status, headers = response.status, response.headers
        return {"status": status, "headers": headers, "body": _safe_body(status, headers, body)}


def _safe_body(status: int, headers: Any, body: bytes) -> str:
    """The JSON text as Slack sent it, or, for anything else, a JSON error carrying a short reason."""
    try:
        if isinstance(json.loads(body), dict):
            return body.decode("utf-8")
    except ValueError:
        pass
    reason = http_reason(status, content_type=headers.get("Content-Type", ""))
    return json.dumps({"ok": False, "error": f"{reason} (not a Slack API answer)"})
