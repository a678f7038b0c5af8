"""The embedded default mail backend: every message becomes one .eml file in an outbox folder.

Open the files with any mail client, or browse them in admin at /admin/outbox/. Nothing
leaves the machine.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import make_msgid

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class OutboxEmailBackend(BaseEmailBackend):
    def __init__(self, *, outbox_dir: str | os.PathLike | None = None, **kwargs):
        super().__init__(**kwargs)
        self.outbox_dir = Path(outbox_dir or settings.BULLETIN_OUTBOX_DIR)

    def send_messages(self, email_messages) -> int:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        sent = 0
        for message in email_messages:
            try:
                self._write(message)
                sent += 1
            except Exception:
                if not self.fail_silently:
                    raise
        return sent

    def _write(self, message) -> Path:
        if "Message-ID" not in message.extra_headers:
            message.extra_headers["Message-ID"] = make_msgid(domain="bulletin.local")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%f")
        recipient = _SAFE.sub("_", (message.recipients() or ["nobody"])[0])[:60]
        path = self.outbox_dir / f"{stamp}-{recipient}-{uuid.uuid4().hex[:8]}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(message.message().as_bytes(linesep="\r\n"))
        tmp.replace(path)  # readers never see half a message
        message.outbox_message_id = message.extra_headers["Message-ID"]
        return path


def outbox_messages(limit: int = 200) -> list[Path]:
    """Newest first."""
    folder = Path(settings.BULLETIN_OUTBOX_DIR)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*.eml"), reverse=True)[:limit]
