"""SMTP connections pinned to the checked address: Django's SMTP backend with smtplib classes
whose socket comes from core.outbound.addresses.create_connection. STARTTLS and SMTPS still
verify the certificate against the configured host name (smtplib passes `_host` as
server_hostname), so only the TCP destination is pinned."""

from __future__ import annotations

import smtplib
import socket
from typing import Any

from django.core.mail.backends import smtp

from core.outbound.addresses import create_connection


class PinnedSMTP(smtplib.SMTP):
    def _get_socket(self, host: str, port: int, timeout: Any) -> socket.socket:
        if timeout is not None and not timeout:
            raise ValueError("Non-blocking socket (timeout=0) is not supported")
        return create_connection((host, port), timeout, self.source_address)


class PinnedSMTPSSL(smtplib.SMTP_SSL, PinnedSMTP):
    """SMTP_SSL._get_socket wraps what super()._get_socket returns: PinnedSMTP's socket."""


class EmailBackend(smtp.EmailBackend):
    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return PinnedSMTPSSL if self.use_ssl else PinnedSMTP
