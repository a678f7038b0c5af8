"""`make run` under honcho: Ctrl-C stops web, worker and beat cleanly, and periodic tasks are
quiet while they have nothing to do.

honcho runs Procfile.dev as written (only the web port changed) against the test database, on
the embedded filesystem broker of `make run` in a temporary folder. Ctrl-C is a SIGINT to
honcho's process group, as a terminal sends it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from analytics.beat import PERIODIC_TASKS as ANALYTICS_TASKS
from analytics.models import EngagementEvent
from analytics.services.ingest import Hit, tracking_hit_buffer
from channels_app.beat import PERIODIC_TASKS as CHANNEL_TASKS
from channels_app.models import Delivery, Send
from core.observability.collectors import beat_ran_key
from core.periodic import periodic_tasks_sync
from tests.factories import ChannelFactory, DeliveryFactory
from tests.worker import require_real_services, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(settings.BASE_DIR)
DRAIN = next(t["name"] for t in ANALYTICS_TASKS if t["task"].endswith("tracking_buffer_drain_task"))
SWEEPER = next(t["name"] for t in CHANNEL_TASKS if t["task"].endswith("deliveries_sweep_task"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _procfile(folder: Path) -> Path:
    text = (ROOT / "Procfile.dev").read_text().replace("127.0.0.1:8000", f"127.0.0.1:{_free_port()}")
    path = folder / "Procfile"
    path.write_text(text)
    return path


def _wait_for_runs(wanted: dict[str, int], *, timeout: float) -> None:
    seen: dict[str, set[float]] = {name: set() for name in wanted}

    def enough() -> bool:
        for name in wanted:
            ran = cache.get(beat_ran_key(name))
            if ran is not None:
                seen[name].add(ran)
        return all(len(seen[name]) >= count for name, count in wanted.items())

    wait_for(enough, timeout=timeout, what=f"idle runs of {', '.join(wanted)}")


def test_ctrl_c_stops_everything_without_errors_and_idle_periodic_tasks_stay_quiet(tmp_path, redis_client):
    require_real_services()
    periodic_tasks_sync()
    env = worker_env(
        DJANGO_SETTINGS_MODULE="config.settings.local",  # INFO logging, as `make run`
        CELERY_BROKER_URL="filesystem://",
        BULLETIN_VAR_DIR=str(tmp_path / "var"),
        LOG_LEVEL="INFO",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    log = tmp_path / "honcho.log"
    honcho = subprocess.Popen(
        [str(Path(sys.executable).parent / "honcho"), "start", "--no-colour", "-f", str(_procfile(tmp_path))],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    output = lambda: log.read_text(errors="replace")  # noqa: E731
    try:
        wait_for(lambda: "ready." in output() and "beat: Starting" in output(), timeout=90, what="worker and beat")
        # Not a sleep: the drain (every 2 s) and the sweeper (every 5 s) note each run as it starts
        # (core.observability.signals); three distinct starts mean at least two idle runs finished.
        _wait_for_runs({DRAIN: 3, SWEEPER: 3}, timeout=60)
        idle = output()
        delivery = DeliveryFactory(
            send=Send.objects.create(key="make-run", kind="newsletter", content={"links": []}),
            channel=ChannelFactory(),
            state=Delivery.State.SENT,
            sent_at=timezone.now(),
        )
        tracking_hit_buffer(hit=Hit.new(kind="open", delivery_id=delivery.pk, user_agent="Thunderbird", head=False))
        wait_for(lambda: EngagementEvent.objects.filter(delivery=delivery).exists(), timeout=30, what="the drain")
        wait_for(lambda: "'stored': 1" in output(), timeout=10, what="the drain's line")
        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C
        honcho.wait(timeout=30)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGKILL)
    text = output()

    # A run's lines name the task with its id: "tracking_buffer_drain_task[<id>] received".
    assert "tracking_buffer_drain_task[" not in idle and "deliveries_sweep_task[" not in idle, idle[-3000:]
    assert "Sending due task" not in text
    assert len(re.findall(r"tracking_buffer_drain_task\[[^\]]+\] succeeded", text)) == 1, text[-3000:]

    assert "worker: Warm shutdown" in text
    for name in ("web", "worker", "beat"):
        assert f"{name}.1 stopped (rc=0)" in text, text[-3000:]
    assert "ERROR" not in text and "Traceback" not in text, text[-3000:]
    # On a busy machine the worker's warm shutdown can outlast honcho's five seconds: the wrapper
    # then says so and leaves, and honcho's SIGKILL finds only the wrapper's (empty) group; the
    # worker, in a session of its own, is not killed and finishes on its own.
    late = re.search(r"celery \(pid (\d+)\) is finishing its work and exits on its own", text)
    if "SIGKILL" in text:
        assert late, text[-3000:]
    if late:
        proc = Path(f"/proc/{late.group(1)}")
        wait_for(lambda: not proc.exists() or "zombie" in (proc / "status").read_text(), timeout=60, what="the worker")
    assert honcho.returncode == 130  # honcho after SIGINT, like any program stopped by Ctrl-C
