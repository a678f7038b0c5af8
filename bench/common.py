"""Shared plumbing for benchmarks: database set-up, processes, peak memory, the JSON line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent


def use_services(*, database: str, redis_db: int) -> None:
    """Each benchmark owns a PostgreSQL database and a Redis database, so one never wipes
    another's data. DATABASE_URL / REDIS_URL set by the caller win."""
    server = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
    os.environ.setdefault("DATABASE_URL", f"{server}/{database}")
    os.environ.setdefault("REDIS_URL", f"{os.environ.get('BENCH_REDIS', 'redis://127.0.0.1:6379')}/{redis_db}")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ensure_database() -> None:
    """Create the benchmark's PostgreSQL database if missing, then migrate it (quietly)."""
    import psycopg

    url = urlsplit(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def truncate_app_tables() -> None:
    from django.apps import apps
    from django.db import connection

    tables = [
        m._meta.db_table
        for app in ("analytics", "channels_app", "publishing", "subscribers")
        for m in apps.get_app_config(app).get_models()
        if not m._meta.proxy
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")


def peak_rss_mb(pid: int) -> float:
    """The kernel's high-water mark of a process's resident memory (VmHWM)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return []
    return [int(p) for p in out.split()]


def start(cmd: list[str], *, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    stream = log.open("w") if log else subprocess.DEVNULL
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=stream,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_until(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def report(result: dict) -> None:
    """The benchmark's one JSON line, last on stdout."""
    print(json.dumps(result), flush=True)
