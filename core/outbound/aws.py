"""boto3 clients whose API calls go through our OutboundSession.

botocore sends with its own urllib3 pool and resolves the endpoint's name itself. Its
documented `before-send` event lets a handler answer a request instead (moto's stubber works
the same way): our handler sends the signed request, unchanged, through an OutboundSession and
hands the answer back as an AWSResponse. So SES calls, to AWS or to a configured endpoint_url,
connect to a checked address, follow no redirect and use no proxy, like every other call.
https://docs.aws.amazon.com/boto3/latest/guide/events.html

Not covered: botocore's credential providers (instance metadata at 169.254.169.254, container
credentials) open their own connections when a channel has no keys of its own; those go to
addresses AWS fixes or the operator sets, never to one a channel's configuration names.
"""

from __future__ import annotations

from typing import Any

import requests
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError

from core.outbound.http import OutboundSession


class _Body:
    """The `raw` AWSResponse reads its content from (`stream()`, as urllib3's response has)."""

    def __init__(self, content: bytes):
        self.content = content

    def stream(self, **kwargs: Any):
        yield self.content


def route_through(client: Any, session: OutboundSession) -> None:
    """Send every request of this botocore client through `session`."""
    config = client.meta.config
    timeout = (config.connect_timeout, config.read_timeout)

    def send(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse:
        try:
            # identity: botocore asks for no compression, so its parsers never see a recoded body
            headers = {"Accept-Encoding": "identity", **dict(request.headers.items())}
            response = session.request(request.method, request.url, headers=headers, data=request.body, timeout=timeout)
        except requests.ConnectTimeout as exc:
            raise ConnectTimeoutError(endpoint_url=request.url, error=exc) from exc
        except requests.Timeout as exc:
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
        except requests.RequestException as exc:
            raise EndpointConnectionError(endpoint_url=request.url, error=exc) from exc
        return AWSResponse(request.url, response.status_code, response.headers, _Body(response.content))

    client.meta.events.register("before-send", send)
