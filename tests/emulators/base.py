"""What every emulator shares: lifecycle, fault injection, the /_emulator/ control API and the CLI.

An emulator subclasses `Emulator`, lists its options with their defaults in `DEFAULTS` and
fills in the hooks: `operation` (a name per request, for stats), `handle_api` (the
provider's behaviour, called under `self.lock`), `fault_response` (an injected fault in the
provider's own error format), `apply_options`, `emulator_stats`, `clear_records`, `messages`.

Common options, for `configure(...)` in-process or `POST /_emulator/config` as JSON:
- latency_ms: added to every API request (an `await asyncio.sleep`, so it never serializes).
- hang_seconds: every API request waits this long, then is answered normally (a slow
  provider; a client that timed out and retried can cause a duplicate, as in real life).
- down: false | true / "503" (every request gets the provider's 503) | "close" (the
  connection is closed without an answer).
- fail_next: {count, status, code, message, retry_after, close, hang_seconds, after} or a list
  of them, used in order: the next `count` requests get that error (`code` is the provider's
  error code; either of status/code picks the other), or are closed, or hang and are closed;
  with `after`, only once that many requests were answered normally (failing mid-send).
- storm: {every, status, code, message, retry_after, close} until set to null: every
  `every`-th request (1: all of them, 2: half) gets that error (a provider storm).

Control endpoints: GET /_emulator/stats, GET|POST /_emulator/config, POST /_emulator/reset,
GET /_emulator/messages?<filter>=... (filters per emulator: to, channel, webhook_id, path).
reset() forgets every record and fault and returns to the constructor's options; requests
still waiting on latency or a hang are then dropped (their connection is closed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from collections import Counter, deque
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

from tests.emulators.httpserver import HttpServer, Request, Response

CONTROL_PREFIX = "/_emulator/"
DOWN_MODES = ("503", "close")


@dataclass
class Fault:
    """What to do instead of answering: an error, a dropped connection or a hang, `count` times."""

    status: int | None = None  # None: the usual status for `code`, else 500
    code: str = ""  # the provider's error code; empty picks the usual one for `status`
    message: str = ""
    retry_after: float | None = None
    close: bool = False  # close the connection without answering
    hang_seconds: float = 0.0  # say nothing for this long, then close the connection
    count: int = 1
    after: int = 0  # answer this many requests normally first (a provider failing mid-send)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Fault:
        known = {f.name for f in fields(cls)}
        if unknown := set(options) - known:
            raise ValueError(f"unknown fail_next keys: {sorted(unknown)}")
        fault = cls(**options)
        if fault.count < 1:
            raise ValueError("fail_next count must be at least 1")
        return fault


class Faults:
    """Fault-injection state, changed at runtime through `Emulator.configure`."""

    def __init__(self) -> None:
        self.latency_ms = 0.0
        self.hang_seconds = 0.0
        self.down: str | None = None
        self.queue: deque[Fault] = deque()
        self.storm: Fault | None = None
        self.storm_every = 1
        self._storm_seen = 0

    def take(self) -> Fault | None:
        """The fault for the request arriving now, if any (consumes one from fail_next)."""
        if self.down is not None:
            return Fault(status=503, close=self.down == "close")
        if self.storm is not None:
            self._storm_seen += 1
            if self._storm_seen % self.storm_every == 0:
                return self.storm
        if not self.queue:
            return None
        fault = self.queue[0]
        if fault.after > 0:
            fault.after -= 1
            return None
        fault.count -= 1
        if fault.count == 0:
            self.queue.popleft()
        return fault

    def set_fail_next(self, spec: dict[str, Any] | list[dict[str, Any]] | None) -> None:
        specs = [spec] if isinstance(spec, dict) else list(spec or [])
        self.queue = deque(Fault.from_options(dict(item)) for item in specs)

    def set_storm(self, spec: dict[str, Any] | None) -> None:
        spec = dict(spec or {})
        every = int(spec.pop("every", 1))
        if every < 1:
            raise ValueError("storm every must be at least 1")
        self.storm = Fault.from_options(spec) if spec else None
        self.storm_every, self._storm_seen = every, 0

    def set_down(self, value: bool | str | None) -> None:
        if value in (None, False, "", "up"):
            self.down = None
        elif value is True:
            self.down = "503"
        elif str(value) in DOWN_MODES:
            self.down = str(value)
        else:
            raise ValueError(f"down must be false, true, '503' or 'close', not {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "hang_seconds": self.hang_seconds,
            "down": self.down or False,
            "fail_next": [vars(fault).copy() for fault in self.queue],
            "storm": {**vars(self.storm), "every": self.storm_every} if self.storm else None,
        }


class Emulator:
    """A provider emulator served over HTTP on 127.0.0.1; use as a context manager in-process."""

    #: every option of the emulator with its default; reset() returns to these (and the constructor's)
    DEFAULTS: ClassVar[dict[str, Any]] = {}

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self._initial_options = {**self.DEFAULTS, **options}
        self._generation = 0  # bumped by reset(): requests held across it are dropped
        self._requests: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._faults_injected = 0
        self.server = HttpServer(self._handle, host, port)
        self.clear_records()
        self.configure(**self._initial_options)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Self:
        self.server.start_in_thread()
        return self

    def stop(self) -> None:
        self.server.stop_thread()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def describe(self) -> dict[str, str]:
        """The first line the CLI prints; emulators add the URLs their clients need."""
        return {"endpoint_url": self.endpoint_url}

    # --- control -----------------------------------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Change behaviour at runtime; unknown options raise ValueError."""
        with self.lock:
            if "latency_ms" in options:
                self.faults.latency_ms = float(options.pop("latency_ms") or 0)
            if "hang_seconds" in options:
                self.faults.hang_seconds = float(options.pop("hang_seconds") or 0)
            if "down" in options:
                self.faults.set_down(options.pop("down"))
            if "fail_next" in options:
                self.faults.set_fail_next(options.pop("fail_next"))
            if "storm" in options:
                self.faults.set_storm(options.pop("storm"))
            self.apply_options(options)
            if options:
                raise ValueError(f"unknown options: {sorted(options)}")

    def reset(self) -> None:
        """Forget every record and fault and return to the options the emulator was built with."""
        with self.lock:
            self._generation += 1
            self.faults = Faults()
            self._requests.clear()
            self._errors.clear()
            self._faults_injected = 0
            self.clear_records()
            self.configure(**self._initial_options)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": dict(self._requests),
                "errors": dict(self._errors),
                "faults_injected": self._faults_injected,
                **self.emulator_stats(),
            }

    def config(self) -> dict[str, Any]:
        with self.lock:
            return {**self.faults.as_dict(), **self.emulator_config()}

    # --- hooks for subclasses ----------------------------------------------------------------

    def operation(self, request: Request) -> str:
        return f"{request.method} {request.path}"

    def handle_api(self, request: Request) -> Response:
        raise NotImplementedError

    def fault_response(self, fault: Fault) -> Response:
        raise NotImplementedError

    def apply_options(self, options: dict[str, Any]) -> None:
        """Pop and apply the emulator's own options; whatever is left over is unknown."""

    def emulator_config(self) -> dict[str, Any]:
        return {}

    def emulator_stats(self) -> dict[str, Any]:
        return {}

    def clear_records(self) -> None:
        pass

    def messages(self, **filters: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    # --- request path ------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Response:
        if request.path.startswith(CONTROL_PREFIX):
            return self._control(request)
        with self.lock:
            self._requests[self.operation(request)] += 1
            fault = self.faults.take()
            generation = self._generation
            delay = self.faults.latency_ms / 1000 + self.faults.hang_seconds
        if delay:
            await asyncio.sleep(delay)
        if fault is not None:
            return await self._inject(fault)
        with self.lock:
            if generation != self._generation:
                return Response(close=True)  # reset() ran while this request waited
            response = self.handle_api(request)
            if response.error:
                self._errors[response.error] += 1
            return response

    async def _inject(self, fault: Fault) -> Response:
        with self.lock:
            self._faults_injected += 1
        if fault.hang_seconds:
            await asyncio.sleep(fault.hang_seconds)
            return Response(close=True)
        if fault.close:
            return Response(close=True)
        response = self.fault_response(fault)
        with self.lock:
            self._errors[response.error or str(response.status)] += 1
        return response

    def _control(self, request: Request) -> Response:
        action = (request.method, request.path.removeprefix(CONTROL_PREFIX).rstrip("/"))
        try:
            if action == ("GET", "stats"):
                return Response.json(self.stats())
            if action == ("GET", "messages"):
                filters = {key: values[-1] for key, values in request.query.items()}
                return Response.json(self.messages(**filters))
            if action == ("GET", "config"):
                return Response.json(self.config())
            if action == ("POST", "config"):
                self.configure(**(request.json() or {}))
                return Response.json(self.config())
            if action == ("POST", "reset"):
                self.reset()
                return Response.json({"ok": True})
        except (ValueError, TypeError) as exc:
            return Response.json({"error": str(exc)}, status=400)
        return Response.json({"error": f"no control endpoint {request.method} {request.path}"}, status=404)


# --- command line ------------------------------------------------------------------------------


def cli_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every API request")
    return parser


def common_options(args: argparse.Namespace) -> dict[str, Any]:
    """The constructor arguments every CLI shares (see cli_parser)."""
    return {"host": args.host, "port": args.port, "latency_ms": args.latency_ms}


def serve_forever(emulator: Emulator) -> None:
    """Serve in this thread; print the URLs as one JSON line first; stop on SIGTERM or SIGINT."""

    async def main() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopped.set)
        await emulator.server.open()
        print(json.dumps(emulator.describe()), flush=True)
        await stopped.wait()
        await emulator.server.close()

    asyncio.run(main())
    sys.stdout.flush()
