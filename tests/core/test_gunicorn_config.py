"""The gunicorn settings file every deployment uses (Procfile, Dockerfile, compose, benchmarks)."""

import gc
import subprocess
import sys
from pathlib import Path

import pytest

from config import gunicorn as gunicorn_config

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_freezes_what_it_loaded_so_collections_skip_it():
    gc.unfreeze()
    try:
        gunicorn_config.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 10_000  # Django, DRF and every view module
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(
    ("path", "reference"),
    [
        ("Procfile", "config/gunicorn.py"),  # a source checkout
        ("Dockerfile", "python:config.gunicorn"),  # the installed wheel: no source tree
        ("docker-compose.yml", "python:config.gunicorn"),
    ],
)
def test_every_way_of_starting_the_web_process_uses_it(path, reference):
    assert reference in (ROOT / path).read_text()


@pytest.mark.parametrize("reference", ["config/gunicorn.py", "python:config.gunicorn"])
def test_gunicorn_accepts_the_file_by_path_and_by_module(reference):
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", reference, "--check-config", "config.wsgi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.django_db(transaction=True)
def test_metrics_under_gunicorn_add_up_every_worker_process(tmp_path):
    """Two worker processes answer requests; /metrics counts all of them (multiprocess mode)."""
    import re
    import time
    import urllib.request

    from tests.faults import free_port
    from tests.worker import worker_env

    port = free_port()
    env = {**worker_env(), "DJANGO_SETTINGS_MODULE": "config.settings.test", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.py",
            "config.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()  # noqa: S310
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not start"
                time.sleep(0.2)
        # Concurrent requests until both workers answered some: a sync worker serves one request
        # at a time, so the other must take the rest (sequential ones may all go to one worker).
        from concurrent.futures import ThreadPoolExecutor

        def ask(_):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).close()  # noqa: S310

        deadline, asked = time.monotonic() + 60, 1  # the readiness probe above was one
        with ThreadPoolExecutor(max_workers=6) as pool:
            while len({p.name.split("_")[-1] for p in tmp_path.glob("histogram_*.db")}) < 2:
                assert time.monotonic() < deadline, "the second worker never answered"
                list(pool.map(ask, range(12)))
                asked += 12
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        pids = {p.name.split("_")[-1] for p in tmp_path.glob("histogram_*.db")}
    finally:
        server.terminate()
        server.wait(timeout=30)
    counted = re.search(r'bulletin_http_request_duration_seconds_count\{[^}]*view="health"[^}]*\} ([0-9.]+)', text)
    assert counted and float(counted.group(1)) >= asked, f"every process's requests add up: {text[-2000:]}"
    assert len(pids) == 2, f"both worker processes recorded metrics: {pids}"
