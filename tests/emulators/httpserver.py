"""A small HTTP/1.1 server on asyncio streams, the transport under every emulator.

Why not http.server: its thread-per-connection model with a blocking `sleep` for injected
latency works, but it parses requests several times slower than this loop, and the SES
emulator is the throughput sink of a 1,000+ emails/s benchmark on a 2-core machine. Here a
slow or hanging request is an `await asyncio.sleep`, so thousands can be in flight at once.

It speaks just enough HTTP/1.1 for boto3 (urllib3), requests and urllib: keep-alive by
default (RFC 9112 §9.3), Content-Length and chunked request bodies, `Expect: 100-continue`.
Requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

HEADER_LIMIT = 64 * 1024
NO_BODY_STATUSES = frozenset({204, 304})


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """An application/x-www-form-urlencoded body, last value wins."""
        return {key: values[-1] for key, values in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def query_value(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    close: bool = False  # drop the connection without answering (a provider that is down)
    error: str = ""  # the provider's error code, counted in stats, never sent

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None, error: str = "") -> Response:
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})}, error=error)

    def encode(self, keep_alive: bool) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {reason_phrase(self.status)}", "Server: bulletin-emulator"]
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        body = b"" if self.status in NO_BODY_STATUSES else self.body
        if self.status not in NO_BODY_STATUSES:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


Handler = Callable[[Request], Awaitable[Response]]


class BadRequest(Exception):
    pass


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Request | None:
    """The next request on the connection, or None once the client has closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError:
        raise BadRequest("headers too large") from None
    request_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    try:
        method, target, _version = request_line.split(" ", 2)
    except ValueError:
        raise BadRequest(f"malformed request line {request_line!r}") from None
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        length = int(headers.get("content-length") or 0)
        body = await reader.readexactly(length) if length else b""
    url = urlsplit(target)
    return Request(method.upper(), url.path, parse_qs(url.query, keep_blank_values=True), headers, body)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")  # no trailers expected from our clients
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


def wants_keep_alive(request: Request) -> bool:
    # HTTP/1.1 keeps the connection unless told otherwise; our clients all speak 1.1.
    return request.headers.get("connection", "").lower() != "close"


class HttpServer:
    """Serves `handler` on host:port (0 picks a free port), in a background thread or the caller's loop."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    async def open(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=HEADER_LIMIT, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._serve_requests(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-request
        except asyncio.CancelledError:
            pass  # the server is closing; ending quietly keeps asyncio from logging the cancelled task
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve_requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await read_request(reader, writer)
            except (BadRequest, ValueError) as exc:
                writer.write(Response(400, str(exc).encode()).encode(keep_alive=False))
                return
            if request is None:
                return
            try:
                response = await self.handler(request)
            except Exception as exc:
                logger.exception("emulator handler failed on %s %s", request.method, request.path)
                response = Response.json({"message": f"emulator bug: {exc!r}"}, status=500)
            if response.close:
                return
            keep_alive = wants_keep_alive(request)
            writer.write(response.encode(keep_alive))
            await writer.drain()
            if not keep_alive:
                return

    # A background thread with its own loop, for in-process use (tests, benchmarks).

    def start_in_thread(self) -> None:
        loop = asyncio.new_event_loop()
        opened = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.open())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                return
            finally:
                opened.set()
            loop.run_forever()
            loop.run_until_complete(self.close())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"emulator-{id(self):x}", daemon=True)
        self._thread.start()
        opened.wait()
        if failure:
            raise failure[0]

    def stop_thread(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._thread = None
