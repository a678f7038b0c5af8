"""The embedded default really works: a task goes through kombu's filesystem transport and a
real `celery worker` process executes it. No Redis, no server."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache.backends.filebased import FileBasedCache

from config.celery import app

pytestmark = pytest.mark.worker

ROOT = Path(settings.BASE_DIR)


def _embedded_env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env |= {"DJANGO_SETTINGS_MODULE": "config.settings.local", "BULLETIN_VAR_DIR": str(var_dir), "DEBUG": "true"}
    return env


def test_a_task_round_trips_through_the_filesystem_broker_and_a_real_worker(tmp_path):
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool",
            "solo",
            "--queues",
            "default",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=_embedded_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        options = {
            key: str(tmp_path / "broker" / folder)
            for key, folder in [
                ("data_folder_in", "queue"),
                ("data_folder_out", "queue"),
                ("control_folder", "control"),
                ("processed_folder", "processed"),
            ]
        }
        for folder in options.values():
            Path(folder).mkdir(parents=True, exist_ok=True)
        with app.connection_for_write("filesystem://", transport_options=options) as conn:
            app.send_task("core.tasks.worker_heartbeat_task", connection=conn, queue="default")

        heartbeat_cache = FileBasedCache(str(tmp_path / "cache"), {})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and heartbeat_cache.get("bulletin:worker-heartbeat") is None:
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.2)
        assert heartbeat_cache.get("bulletin:worker-heartbeat") is not None, "the worker never ran the task"
        assert not list((tmp_path / "broker" / "queue").iterdir()), "the message was not consumed"
    finally:
        worker.terminate()
        worker.wait(timeout=30)
