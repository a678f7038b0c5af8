"""Run test modules again on the embedded SQLite default, in a child pytest.

CI runs the suite once, on PostgreSQL; features that must also work on `make run`'s SQLite run
their modules again in a child process without DATABASE_URL (config/settings/test.py then uses a
SQLite file in a temporary folder). REDIS_URL is kept (worker tests use it as the broker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from django.conf import settings
from django.db import connection


@dataclass
class ChildRun:
    returncode: int
    passed: int
    skipped: int
    report: str  # the end of the child's output, for assertion messages


def pytest_on_sqlite(modules: list[str], *, timeout: int = 900) -> ChildRun:
    """Skips the calling test when this run is on SQLite already (the modules run here directly)."""
    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite already: the modules run here directly")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BULLETIN_VAR_DIR")}
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *modules],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    passed = re.search(r"(\d+) passed", child.stdout)
    skipped = re.search(r"(\d+) skipped", child.stdout)
    return ChildRun(
        returncode=child.returncode,
        passed=int(passed.group(1)) if passed else 0,
        skipped=int(skipped.group(1)) if skipped else 0,
        report=child.stdout[-4000:] + child.stderr[-2000:],
    )
