"""A real Celery worker process for tests whose behaviour depends on the broker.

The worker runs `celery -A config worker` with the test settings against the test database
(PostgreSQL: the worker is another process, so the test must use transactional tests) and
the real Redis broker. Tests using it are skipped without DATABASE_URL/REDIS_URL, which CI sets.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection


def require_real_services(*, sqlite: bool = False) -> None:
    """`sqlite`: the test also runs on the embedded SQLite default (`make run`'s), whose test
    database is a file (config/settings/test.py) the worker opens too."""
    if not settings.REDIS_URL or (connection.vendor != "postgresql" and not sqlite):
        pytest.skip("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL): the worker is a separate process")


def worker_env(**overrides: str) -> dict[str, str]:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db['NAME']}"
    elif db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        **overrides,
    }


class WorkerProcess:
    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the worker and its pool children at once: no warm shutdown, no acks."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def celery_worker(
    *,
    name: str = "w1",
    concurrency: int = 2,
    queues: str = "alerts,default,bulk,feedback",
    pool: str = "prefork",
    extra_args: Sequence[str] = (),
    **env: str,
):
    log = Path(tempfile.mkstemp(prefix=f"celery-{name}-", suffix=".log")[1])
    cmd = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        pool,
        "-c",
        str(concurrency),
        "-Q",
        queues,
        "-n",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
        "--loglevel",
        "INFO",
        *extra_args,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=settings.BASE_DIR,
        env=worker_env(**env),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    worker = WorkerProcess(proc, log)
    try:
        deadline = time.monotonic() + 60
        while "ready." not in worker.output():
            assert proc.poll() is None, f"worker exited:\n{worker.output()[-3000:]}"
            assert time.monotonic() < deadline, f"worker not ready:\n{worker.output()[-3000:]}"
            time.sleep(0.2)
        yield worker
    finally:
        worker.stop()


@contextmanager
def real_broker():
    """Tasks this test process enqueues go through the broker to a real worker, not run eagerly."""
    from config.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = eager


def wait_for(predicate, *, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def drain(queue: str, *, timeout: float = 60) -> None:
    """Wait until a worker consuming `queue` (one process, solo pool) has taken every message
    published to it so far: a sentinel task goes last and is waited for. What the tasks before
    it did is then done; "nothing more happened" is an observation, not a guess after a sleep."""
    import uuid

    from django.core.cache import cache

    from core.tasks import queue_probe_task

    key = uuid.uuid4().hex
    queue_probe_task.apply_async(kwargs={"key": key}, queue=queue)
    wait_for(lambda: cache.get(f"bulletin:queue-probe:{key}") is not None, timeout=timeout, what=f"{queue} drained")
