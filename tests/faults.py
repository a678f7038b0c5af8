"""Real faults of our own infrastructure, for tests and the recovery benchmark.

- `RedisServer`: a redis-server of the caller's own on a free port, which can be stopped and
  started again (empty, as Bulletin runs Redis: nothing on disk) without touching the
  machine's shared Redis.
- `broker_at(url)`: tasks this process enqueues go through the broker at `url`.
- `pg_terminate_sessions(...)`: cut a process's PostgreSQL connections, as a database restart
  or a failover does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager

import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.dir = tempfile.mkdtemp(prefix="bulletin-redis-")

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
            + ["--dir", self.dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._answers():
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        return self

    def wait_uptime(self, seconds: int = 1) -> None:
        """Wait until the server has run `seconds` (INFO reports whole seconds of uptime)."""
        import redis

        client = redis.Redis(port=self.port)
        while client.info("server")["uptime_in_seconds"] < seconds:
            time.sleep(0.1)
        client.close()

    def stop(self) -> None:
        """Kill it: everything it held (queued messages, rate-limit and circuit state) is gone."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), 0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def broker_at(url: str):
    """Tasks this process enqueues are published to the broker at `url` (eager mode off)."""
    from config.celery import app

    saved = app.conf.broker_url, app.conf.task_always_eager
    _switch_broker(app, url)
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        _switch_broker(app, saved[0])
        app.conf.task_always_eager = saved[1]


def _switch_broker(app, url: str) -> None:
    from kombu import pools

    pools.reset()  # kombu keeps producer and connection pools per broker URL, process-wide
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


def pg_terminate_sessions(dsn: str, *, database: str, application_name: str | None = None, exclude_pid=None) -> int:
    """Terminate the sessions on `database` (optionally only one application's); returns how many."""
    sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    params: list = [database]
    if application_name:
        sql += " AND application_name = %s"
        params.append(application_name)
    if exclude_pid:
        sql += " AND pid <> %s"
        params.append(exclude_pid)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchone()[0]
