"""HTTP through requests with every connection pinned to the address that was checked.

`OutboundSession` is a requests.Session whose urllib3 connections open their socket with
core.outbound.addresses.create_connection: the host name is resolved once, each address is
checked, and the socket connects to that address. TLS still verifies the certificate against
the host name (SNI too), and the Host header is the name, so only the TCP destination is pinned.
Also: http(s) only, redirects never followed, no proxies or .netrc from the environment (a
proxy would resolve the name itself), a timeout always, and at most MAX_BODY_BYTES of a body read.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from core.outbound.addresses import TargetRefused, check_host, create_connection
from core.outbound.reasons import sanitize_url

USER_AGENT = "Bulletin/1.0 (+https://github.com/bulletin)"
DEFAULT_TIMEOUT = (5, 15)  # connect, read
MAX_BODY_BYTES = 1024 * 1024
HTTP_SCHEMES = ("http", "https")


def check_url(url: str, schemes: tuple[str, ...] = HTTP_SCHEMES) -> None:
    """Refuse, before any network, a URL that is not http(s) or whose host is not public."""
    try:
        parts = requests.utils.urlparse(url)
        parts.port  # noqa: B018  (raises for a port that is not a number)
    except ValueError:
        raise TargetRefused("not a valid URL")
    if parts.scheme not in schemes or not parts.hostname:
        raise TargetRefused(f"not an {'/'.join(schemes)} URL: {sanitize_url(url)}")
    check_host(parts.hostname)


def url_problem(url: Any) -> str | None:
    """Why `url` cannot be a target, checked without DNS (a channel's config errors); None if it can."""
    try:
        check_url(str(url))
    except TargetRefused as exc:
        return exc.reason
    return None


class _PinnedConnectionMixin:
    """urllib3's HTTPConnection._new_conn with our create_connection in place of urllib3's."""

    def _new_conn(self) -> socket.socket:
        timeout = socket.getdefaulttimeout() if self.timeout is _DEFAULT_TIMEOUT else self.timeout
        try:
            sock = create_connection(
                (self._dns_host, self.port),
                timeout,
                self.source_address,
                socket_options=self.socket_options or (),
            )
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise TargetRefused("outbound connections do not go through proxies")


class OutboundSession(requests.Session):
    """requests.Session for every outbound HTTP call (adapters, ESPs, SES, SNS)."""

    def __init__(self, *, pool_maxsize: int = 10):
        super().__init__()
        self.trust_env = False
        self.headers["User-Agent"] = USER_AGENT
        adapter = PinnedAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        check_url(url)
        kwargs.update(allow_redirects=False, stream=True, proxies={})
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT
        response = super().request(method, url, *args, **kwargs)
        _read_capped(response)
        return response


def _read_capped(response: requests.Response) -> None:
    """Read at most MAX_BODY_BYTES: a hostile server cannot fill a worker's memory."""
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            response.close()  # drops the connection instead of reading the rest
            del body[MAX_BODY_BYTES:]
            break
    response._content = bytes(body)
    response._content_consumed = True
