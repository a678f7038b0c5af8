"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

    with SMTPServer() as smtp:
        EmailAdapter(config={"esp": "smtp", "host": smtp.host, "port": smtp.port, ...})
        assert smtp.messages()[0]["rcpt_tos"] == ["ada@example.com"]
        assert smtp.connections() == 1

It speaks plain SMTP (no STARTTLS): channels pointing at it set `use_tls: false`.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Self

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, server: SMTPServer):
        self.server = server

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 (aiosmtpd hook)
        session.host_name = hostname
        with self.server.lock:
            self.server._connections += 1  # every smtplib session starts with EHLO
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd hook)
        message = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
            "peer": session.peer[0],
        }
        with self.server.lock:
            self.server._messages.append(message)
        return "250 Message accepted for delivery"


class SMTPServer:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = _free_port(host)
        self.lock = threading.Lock()
        self._messages: list[dict[str, Any]] = []
        self._connections = 0
        self._controller = Controller(_Handler(self), hostname=host, port=self.port)

    def __enter__(self) -> Self:
        self._controller.start()
        self.reset()  # the controller's own start-up probe is not a client
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._controller.stop()

    def reset(self) -> None:
        with self.lock:
            self._messages.clear()
            self._connections = 0

    def messages(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._messages)

    def connections(self) -> int:
        """Client sessions that said EHLO."""
        with self.lock:
            return self._connections


def _free_port(host: str) -> int:
    # aiosmtpd's Controller probes the port it was given, so it needs a real one, not 0.
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]
