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
