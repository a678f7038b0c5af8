"""Fault experiments on a real send: one Celery worker, celery-beat, a Redis of our own (broker,
rate limits, circuits), PostgreSQL and an SES emulator, with one fault injected mid-send.

Used by `make bench NAME=recovery` (10,000 recipients, faults of 10-30 s) and, smaller, by
tests/channels_app/test_worker_recovery.py. Runs in a process where Django is set up; the
worker and beat get `env` (the database they share with this process, our Redis).

Per scenario:
- seconds: from publishing to the send being completed;
- lost: recipients the provider never accepted; duplicates: extra acceptances of a recipient;
- stranded: deliveries still `sending` 10 s after the fault ended that nobody works on (their
  lease was not renewed for two renewal intervals: no batch is alive for them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path

from tests.faults import RedisServer, pg_terminate_sessions

ROOT = Path(__file__).resolve().parent.parent
WORKER_APP_NAME = "bulletin-recovery-worker"


@dataclass
class ScenarioResult:
    name: str
    seconds: float
    lost: int
    duplicates: int
    stranded: int
    recipients: int
    fault_seconds: float
    worker_alive: bool
    notes: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Fault:
    """What happens mid-send: `inject` at `at_share` of the recipients accepted, `heal` after
    `duration` seconds. `worker_alive`: the scenario never kills the worker."""

    name: str
    duration: float
    inject: Callable[[Harness], None]
    heal: Callable[[Harness], None]
    at_share: float = 0.4
    worker_alive: bool = True
    blocking: bool = False  # `inject` itself lasts `duration` (then there is nothing to wait for)


class Harness:
    def __init__(
        self, *, ses_endpoint: str, redis: RedisServer, env: dict[str, str], log_dir: Path, settle: float = 10.0
    ):
        self.ses, self.redis, self.env, self.log_dir, self.settle = ses_endpoint, redis, env, log_dir, settle
        self.worker: subprocess.Popen | None = None
        self.beat: subprocess.Popen | None = None
        self.workers_started = 0

    # --- processes -------------------------------------------------------------------------

    def process_env(self, app_name: str) -> dict[str, str]:
        database_url = self.env["DATABASE_URL"]
        joiner = "&" if "?" in database_url else "?"
        return {
            **os.environ,
            **self.env,
            "DATABASE_URL": f"{database_url}{joiner}application_name={app_name}",
            "REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.redis.url(0),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }

    def start_worker(self) -> None:
        self.workers_started += 1
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-c", "2"]
        cmd += ["-Q", "alerts,default,bulk,feedback"]
        cmd += ["-n", f"recovery-{self.workers_started}@%h", "--without-mingle", "--without-gossip"]
        log = f"worker-{self.workers_started}.log"
        self.worker = self._spawn([*cmd, "--loglevel", "INFO"], log, WORKER_APP_NAME)
        # A deployment's workers are up before anything is published: wait for this one.
        _wait(lambda: "ready." in (self.log_dir / log).read_text(errors="replace"), 60, "the worker to start")

    def start_beat(self) -> None:
        """celery-beat with the database schedule (the sweeper and fan-out recovery every 5 s)."""
        from core.periodic import periodic_tasks_sync

        if self.beat and self.beat.poll() is None:
            return
        periodic_tasks_sync()
        cmd = [sys.executable, "-m", "celery", "-A", "config", "beat", "--max-interval", "1"]
        self.beat = self._spawn([*cmd, "--loglevel", "WARNING"], "beat.log", "bulletin-recovery-beat")

    def kill_worker(self) -> None:
        if self.worker and self.worker.poll() is None:
            os.killpg(self.worker.pid, signal.SIGKILL)
            self.worker.wait(timeout=30)

    def stop(self) -> None:
        for proc in (self.worker, self.beat):
            if proc and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    def _spawn(self, cmd: list[str], log: str, app_name: str) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.process_env(app_name),
            stdout=(self.log_dir / log).open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # --- the provider ----------------------------------------------------------------------

    def ses_stats(self) -> dict:
        with urllib.request.urlopen(f"{self.ses}/_emulator/stats", timeout=10) as response:  # noqa: S310 (loopback)
            return json.load(response)

    def ses_configure(self, **options) -> None:
        request = urllib.request.Request(  # noqa: S310 (loopback)
            f"{self.ses}/_emulator/config",
            data=json.dumps(options).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    def ses_reset(self) -> None:
        request = urllib.request.Request(f"{self.ses}/_emulator/reset", data=b"", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310

    # --- one scenario ----------------------------------------------------------------------

    def setting(self, name: str) -> float:
        """A pipeline setting as the worker sees it (its environment, else our settings)."""
        from django.conf import settings

        return float(self.env.get(name, getattr(settings, name)))

    def run(self, fault: Fault, *, recipients: int, rate: float = 5000, timeout: float = 600) -> ScenarioResult:
        from channels_app.models import Send

        send = _prepare(self, recipients, rate)
        self.start_beat()
        self.start_worker()
        started = time.monotonic()
        _start(send, self.redis.url(0))
        share = fault.at_share * recipients
        _wait(lambda: self.ses_stats()["recipients_accepted"] >= share, 120, f"{share:.0f} recipients accepted")
        fault.inject(self)
        if not fault.blocking:
            time.sleep(fault.duration)
        fault.heal(self)
        healed = time.monotonic()
        time.sleep(self.settle)
        stranded = _stranded(send, self.setting("DELIVERY_LEASE_SECONDS"), self.setting("DELIVERY_LEASE_RENEW_SECONDS"))

        def completed() -> bool:
            send.refresh_from_db()
            return send.status == Send.Status.COMPLETED

        _wait(completed, timeout - (time.monotonic() - started), "the send to complete")
        seconds = time.monotonic() - started
        stats = self.ses_stats()
        duplicates = sum(n - 1 for n in stats["duplicates"].values())
        self.kill_worker()
        return ScenarioResult(
            name=fault.name,
            seconds=round(seconds, 1),
            lost=recipients - stats["unique_recipients"],
            duplicates=duplicates,
            stranded=stranded,
            recipients=recipients,
            fault_seconds=fault.duration,
            worker_alive=fault.worker_alive,
            notes={"recovered_after_fault_seconds": round(time.monotonic() - healed, 1), **_states(send)},
        )


def _prepare(harness: Harness, recipients: int, rate: float):
    """Empty tables, the SES channel, `recipients` subscribers of one topic, a send not yet started."""
    from bench import datagen
    from bench.common import truncate_app_tables
    from channels_app.models import Channel, Send
    from channels_app.services.sends import send_create
    from subscribers.models import Topic

    harness.kill_worker()
    truncate_app_tables()
    harness.ses_reset()
    topic = Topic.objects.create(slug="news", name="News")
    datagen.subscribers(recipients, topic_id=topic.pk)
    Channel.objects.create(
        name="SES (emulator)",
        kind="email",
        is_default=True,
        rate_limit_per_second=rate,
        config={
            "esp": "amazon_ses",
            "from_email": "news@example.com",
            "endpoint_url": harness.ses,
            "region": "us-east-1",
        },
        credentials={"aws_access_key_id": "bench", "aws_secret_access_key": "bench"},
    )
    content = {
        "email": {"subject": "Hi {{{name}}}", "html": "<p>{{{name_html}}}</p>", "text": "{{{unsubscribe_url}}}"},
        "links": [],
    }
    send, _ = send_create(
        key="recovery",
        kind=Send.Kind.NEWSLETTER,
        subject="Hi",
        content=content,
        audience={"topic_ids": [topic.pk], "frequencies": ["instant"], "channel_kinds": ["email"]},
    )
    return send


def _start(send, broker_url: str) -> None:
    """Start the send as publishing does: the fan-out goes through the broker to the worker."""
    from publishing.services.fanout import send_start
    from tests.faults import broker_at

    with broker_at(broker_url):
        send_start(send=send)


def _stranded(send, lease: float, renew: float) -> int:
    from channels_app.models import Delivery
    from core.clock import clock

    # A live batch renews its lease every `renew` seconds to now + `lease`.
    unrenewed = clock.now() + timedelta(seconds=lease - 2 * renew)
    return Delivery.objects.filter(send=send, state=Delivery.State.SENDING, lease_expires_at__lt=unrenewed).count()


def _states(send) -> dict:
    from django.db.models import Count

    from channels_app.models import Delivery

    rows = Delivery.objects.filter(send=send).values("state").annotate(n=Count("pk"))
    return {"states": {row["state"]: row["n"] for row in rows}}


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    raise TimeoutError(f"timed out waiting for {what}")


# --- the faults ----------------------------------------------------------------------------


def sigkill(restart_after: float = 0.0) -> Fault:
    def restart(h: Harness) -> None:
        h.start_worker()

    return Fault("worker_sigkill", restart_after, lambda h: h.kill_worker(), restart, worker_alive=False)


def storm(name: str, duration: float, **spec) -> Fault:
    return Fault(name, duration, lambda h: h.ses_configure(storm=spec), lambda h: h.ses_configure(storm=None))


def redis_down(duration: float) -> Fault:
    return Fault("redis_down", duration, lambda h: h.redis.stop(), lambda h: h.redis.start())


def pg_connections_cut(duration: float, *, every: float = 0.5) -> Fault:
    """The worker's PostgreSQL sessions are terminated again and again for `duration` seconds,
    as during a restart or failover: each reconnect is cut at the next tick."""

    def cut(h: Harness) -> None:
        from django.db import connection

        settings = connection.settings_dict
        dsn = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/postgres"
        deadline = time.monotonic() + duration
        while time.monotonic() < deadline:
            pg_terminate_sessions(dsn, database=settings["NAME"], application_name=WORKER_APP_NAME)
            time.sleep(every)

    return Fault("pg_connections_cut", duration, cut, lambda h: None, blocking=True)
