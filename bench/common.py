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
    from django.core.management import call_command

    url = urlsplit(os.environ["DATABASE_URL"])
    if not url.scheme.startswith("postgres"):
        call_command("migrate", verbosity=0, interactive=False)
        return
    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0, interactive=False)


def emulator_start(module: str, *args: str) -> tuple[subprocess.Popen, dict]:
    """One of tests/emulators/ in its own process; returns the process and the URLs it prints
    as its first stdout line (endpoint_url, and the emulator's own, e.g. Slack's `url`)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    return proc, json.loads(proc.stdout.readline())


def ses_emulator_start(*, latency_ms: float, rate: float | None = None) -> tuple[subprocess.Popen, str]:
    """The SES v2 emulator (tests/emulators/sesv2.py), messages not stored; returns the process
    and its endpoint URL."""
    args = ["--latency-ms", str(latency_ms), "--no-store", *(["--rate", str(rate)] if rate else [])]
    proc, urls = emulator_start("tests.emulators.sesv2", *args)
    return proc, urls["endpoint_url"]


def emulator_stats(endpoint: str) -> dict:
    """What an emulator accepted (messages, rate-limited answers, requests per operation)."""
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/_emulator/stats", timeout=10) as response:  # noqa: S310 (loopback)
        return json.load(response)


ses_emulator_stats = emulator_stats


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


def cpu_seconds(groups: dict[str, int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process tree in `groups` (name -> root
    pid) and by every postgres and redis-server process on the machine: where a run's CPU went,
    when everything shares two cores. (A load generator run as a subprocess is measured with
    resource.getrusage(RUSAGE_CHILDREN) around it instead: it is gone before it could be read.)"""
    tick = os.sysconf("SC_CLK_TCK")
    trees = {name: {root, *descendants(root)} for name, root in groups.items()}
    totals = dict.fromkeys([*groups, "postgres", "redis"], 0.0)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        pid = int(stat.parent.name)
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # utime, stime, and the times of children it reaped: the postmaster's include the
        # backends that exited during the run (connections recycled by CONN_MAX_AGE).
        used = sum(int(v) for v in fields[11:15]) / tick
        owner = next((name for name, pids in trees.items() if pid in pids), None)
        owner = owner or {"postgres": "postgres", "redis-server": "redis"}.get(comm)
        if owner:
            totals[owner] += used
    return totals


def descendants(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        kids = children(frontier.pop())
        found += kids
        frontier += kids
    return found


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
