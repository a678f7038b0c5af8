"""JSON log lines (LOG_FORMAT=json): one object per line with the time, level, logger, message,
the request id and the task id, for log shippers. LOG_FORMAT=text keeps the plain format."""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from core.observability import context


class ContextFilter(logging.Filter):
    """Adds request_id and task_id to every record (empty outside a request or a task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = context.request_id.get()
        record.task_id = context.task_id.get()
        return True


class BulletinJsonFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(task_id)s")
        kwargs.setdefault("rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"})
        super().__init__(*args, **kwargs)
