"""The ids a log line carries: the request's (X-Request-ID, or a new one) and the Celery task's.

A request's id travels into every task it enqueues (a message header), and from a task into
the tasks it enqueues in turn, so one id follows an action from the API call to the provider.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("bulletin_request_id", default="")
task_id: ContextVar[str] = ContextVar("bulletin_task_id", default="")

HEADER = "bulletin_request_id"
_SAFE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id_from(value: str | None) -> str:
    """A caller's id when it is short and plain (it ends up in logs), else a new one."""
    return value if value and _SAFE.match(value) else uuid.uuid4().hex
