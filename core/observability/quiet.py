"""Periodic tasks log only when they did something.

Beat sends the tracking drain every 2 s and the sweeper every 5 s; Celery logs each one three
times (beat's "Sending due task", the worker's "received" and "succeeded" lines) even when it
found nothing to do. This filter, on the console handler, drops for the beat schedule's tasks
(`<app>/beat.py`) beat's and the worker's routine lines, and the "succeeded" line of a run whose
result says it did nothing (None, zero counts, empty collections; flags, timings and labels do
not count as work). A run that did something, any warning or error, and every other task still
log as before.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from typing import Any

from celery.signals import task_success

_idle_runs: OrderedDict[str, None] = OrderedDict()  # task ids of idle runs in this process
_lock = threading.Lock()
_REMEMBER = 1000


@functools.cache
def periodic_task_names() -> frozenset[str]:
    from core.periodic import periodic_task_specs

    return frozenset(spec["task"] for spec in periodic_task_specs())


def result_is_idle(value: Any) -> bool:
    """True when a task's result reports no work: None, 0, empty, or only such values inside."""
    if value is None or isinstance(value, bool | float | str):
        return True  # flags ("skipped"), timings and labels are not work
    if isinstance(value, int):
        return value == 0
    if isinstance(value, dict):
        return all(result_is_idle(v) for v in value.values())
    if isinstance(value, list | tuple | set):
        return all(result_is_idle(v) for v in value)
    return False


@task_success.connect(dispatch_uid="bulletin-quiet-idle-runs")
def _remember_idle_run(sender=None, result=None, **kwargs) -> None:
    if sender is None or sender.name not in periodic_task_names() or not result_is_idle(result):
        return
    with _lock:
        _idle_runs[sender.request.id] = None
        while len(_idle_runs) > _REMEMBER:
            _idle_runs.popitem(last=False)


def _was_idle(task_id: str) -> bool:
    with _lock:
        if task_id in _idle_runs:
            del _idle_runs[task_id]
            return True
        return False


class QuietPeriodicTasksFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery."):
            return True
        if record.name == "celery.beat":
            message = str(record.msg)
            sending = message.startswith("Scheduler: Sending due task") and isinstance(record.args, tuple)
            return not (sending and len(record.args) == 2 and record.args[1] in periodic_task_names())
        data = record.args if isinstance(record.args, dict) else getattr(record, "data", None)
        if not isinstance(data, dict) or data.get("name") not in periodic_task_names():
            return True
        if record.name == "celery.worker.strategy":
            return False  # "received": the run's own line (if any) says what happened
        if record.name == "celery.app.trace" and "succeeded" in str(record.msg):
            return not _was_idle(str(data.get("id")))
        return True
