"""Celery wiring: the request id travels in a message header into every task; each task logs
with its own id; tasks are timed; beat's tasks note when they ran (beat lag); a worker runs the
operations watchdog on a timer and, with WORKER_METRICS_PORT, serves its metrics."""

from __future__ import annotations

import logging
import time

from celery import bootsteps
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready
from django.conf import settings
from django.core.cache import cache

from core.clock import clock
from core.observability import context
from core.observability.collectors import PUBLISHED_AT_HEADER, beat_ran_key

logger = logging.getLogger(__name__)
_started: dict[str, tuple[float, object, object]] = {}


@before_task_publish.connect(dispatch_uid="bulletin-publish-headers")
def add_headers(headers=None, **_):
    if headers is None:
        return
    headers.setdefault(context.HEADER, context.request_id.get() or context.task_id.get())
    headers.setdefault(PUBLISHED_AT_HEADER, clock.time())


@task_prerun.connect(dispatch_uid="bulletin-task-prerun")
def enter_task(task_id=None, task=None, **_):
    request = task.request
    carried = _header(request, context.HEADER)
    tokens = (context.task_id.set(task_id or ""), context.request_id.set(carried or task_id or ""))
    _started[task_id] = (time.perf_counter(), *tokens)
    periodic = _header(request, "periodic_task_name")
    if periodic:
        try:
            cache.set(beat_ran_key(periodic), clock.time(), timeout=7 * 24 * 3600)
        except Exception as exc:  # bookkeeping only
            logger.warning("could not note the run of %s: %s", periodic, exc)


@task_postrun.connect(dispatch_uid="bulletin-task-postrun")
def leave_task(task_id=None, task=None, **_):
    from core.observability.metrics import TASK_SECONDS

    started = _started.pop(task_id, None)
    if started is None:
        return
    TASK_SECONDS.labels(task=task.name).observe(time.perf_counter() - started[0])
    context.task_id.reset(started[1])
    context.request_id.reset(started[2])


def _header(request, name: str):
    return getattr(request, name, None) or (getattr(request, "headers", None) or {}).get(name)


@worker_ready.connect(dispatch_uid="bulletin-worker-exporter")
def serve_worker_metrics(**_):
    port = settings.WORKER_METRICS_PORT
    if not port:
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=settings.WORKER_METRICS_ADDRESS, registry=registry)
    logger.info("worker metrics on %s:%s", settings.WORKER_METRICS_ADDRESS, port)


class OpsWatchdog(bootsteps.StartStopStep):
    """Runs the operations watchdog every OPS_CHECK_SECONDS in the worker's main process."""

    requires = {"celery.worker.components:Timer"}

    def start(self, worker):
        if settings.OPS_CHECK_SECONDS > 0:
            worker.timer.call_repeatedly(settings.OPS_CHECK_SECONDS, _check, priority=10)


def _check():
    from core.observability.ops import ops_alerts_check

    try:
        ops_alerts_check()
    except Exception:  # a watchdog that crashes watches nothing: log and try again next time
        logger.exception("operations watchdog failed")
