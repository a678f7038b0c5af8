"""The fan-out bench's 1,000,000-subscriber run (issue 17): one send to a million subscribers on
the fanout bench's machinery (SES emulator at 20 ms, one worker of two processes), while the API
is asked a light, steady stream of questions, to show what a large send does to it.

    seconds         from send start to the last hand-off (target < 480)
    peak_rss_mb     the largest peak RSS of any worker process (target < 250)
    api_p95_ratio   API p95 during the send over its p95 idle just before (target <= 2)

The API probe is deliberately light (PROBE_PER_SECOND requests a second, one at a time, to the
send-progress and topic-list endpoints through gunicorn with two workers): an operator's
dashboard polling, not a load test, so the figure is about responsiveness, not capacity. The
worker runs at nice 10, as docker-compose runs the bulk worker on a host it shares with web
(BENCH_MILLION_WORKER_NICE=0 measures it without).
Run by `python -m bench.fanout_bench --million` (or `make bench NAME=fanout` with
BENCH_FANOUT_MILLION=1); it rebuilds the bench database's subscribers (a few minutes).
"""

from __future__ import annotations

import os
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench import common

PROBE_PER_SECOND = 10
COMPACT_EVERY_SECONDS = 60
WORKER_NICE = int(os.environ.get("BENCH_MILLION_WORKER_NICE", "10"))
IDLE_SECONDS = 20
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ApiProbe:
    """Asks the API a question every 1/PROBE_PER_SECOND s in a thread; keeps each latency."""

    def __init__(self, port: int, urls: list[str], token: str):
        self.port, self.urls, self.token = port, urls, token
        self.latencies: list[float] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ApiProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        index = 0
        while not self._stop.is_set():
            started = time.perf_counter()
            url = self.urls[index % len(self.urls)]
            index += 1
            request = urllib.request.Request(
                f"http://127.0.0.1:{self.port}{url}", headers={"Authorization": f"Token {self.token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                    response.read()
                    ok = response.status == 200
            except OSError:
                ok = False
            elapsed = time.perf_counter() - started
            if ok:
                self.latencies.append(elapsed * 1000)
            else:
                self.errors += 1
            self._stop.wait(max(0.0, 1 / PROBE_PER_SECOND - elapsed))

    def p95(self) -> float:
        return statistics.quantiles(self.latencies, n=20)[-1] if len(self.latencies) >= 20 else float("nan")


class CountsFolding:
    """What beat does during a send in production and this benchmark has no beat for: fold the
    delivery counts every COMPACT_EVERY_SECONDS (channels_app/beat.py: every 60 s), so the send's
    progress (read by the API) is a few rows, not every delta the send appended."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CountsFolding:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        from django.db import connection

        from channels_app.services.counts import delivery_counts_compact

        try:
            while not self._stop.wait(COMPACT_EVERY_SECONDS):
                delivery_counts_compact()
        finally:
            connection.close()


def _token() -> str:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(username="bench-million", defaults={"is_superuser": True})
    return Token.objects.get_or_create(user=user)[0].key


def _up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def million_run(n: int, *, concurrency: int, log_dir: Path) -> dict:
    from bench.fanout_bench import prepare, run_send_started, send_created, start_workers, wait_send

    emulator, endpoint = common.ses_emulator_start(latency_ms=20, rate=None)
    # The emulator stands in for a provider on other machines: it takes only CPU nobody else wants.
    os.setpriority(os.PRIO_PROCESS, emulator.pid, 19)
    server = None
    try:
        built = time.monotonic()
        topic_id = prepare(n, endpoint=endpoint, rate=100_000)
        built = time.monotonic() - built
        token, port = _token(), _free_port()
        server = common.start(
            [str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi", "-b", f"127.0.0.1:{port}",
             "-w", "2", "--worker-class", "sync", "--log-level", "warning"],
            env={"DJANGO_SETTINGS_MODULE": "config.settings.bench"}, log=log_dir / "million-gunicorn.log",
        )  # fmt: skip
        common.wait_until(lambda: _up(port), timeout=60, what="gunicorn")
        # As docker-compose runs its bulk worker: at nice 10, so the API keeps the CPU it needs.
        procs = start_workers(1, concurrency, log_dir, nice=WORKER_NICE)
        try:
            # The same questions idle and busy: the send exists (not started) while idle is measured.
            send = send_created(topic_id)
            urls = [
                "/api/v1/publishing/topics",
                "/api/v1/publishing/sends?page_size=5",
                f"/api/v1/publishing/sends/{send.pk}",
            ]
            with ApiProbe(port, urls, token) as idle:
                time.sleep(IDLE_SECONDS)
            send, started = run_send_started(topic_id, send)
            with ApiProbe(port, urls, token) as busy, CountsFolding():
                result = wait_send(send, started, n, timeout=max(1800, n / 200))
            rss = [common.peak_rss_mb(pid) for proc, _ in procs for pid in [proc.pid, *common.children(proc.pid)]]
        finally:
            for proc, _ in procs:
                common.stop(proc)
        stats = common.ses_emulator_stats(endpoint)
    finally:
        if server is not None:
            common.stop(server)
        common.stop(emulator)
    return {
        "subscribers": n,
        "seconds": round(result["seconds"], 1),
        "emails_per_second": round(n / result["seconds"], 1),
        "peak_rss_mb": round(max(rss), 1),
        "api_p95_ratio": round(busy.p95() / idle.p95(), 2),
        "api_p95_ms_idle": round(idle.p95(), 1),
        "api_p95_ms_during_send": round(busy.p95(), 1),
        "api_requests": {"idle": len(idle.latencies), "during_send": len(busy.latencies)},
        "api_errors": idle.errors + busy.errors,  # non-200 answers: a ratio with errors means nothing
        "accepted": stats["recipients_accepted"],
        "unique_accepted": stats["unique_recipients"],
        "duplicates": len(stats["duplicates"]),
        "delivery_states": result["states"],
        "dataset_built_seconds": round(built, 1),
    }
