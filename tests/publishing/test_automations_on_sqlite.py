"""Automations on the embedded SQLite default (`make run`): CI runs the suite once, on PostgreSQL,
so this test runs the automation test modules again in a child pytest without DATABASE_URL
(config/settings/test.py then uses SQLite, in a file a real worker opens too) and asserts they
pass. REDIS_URL is kept (the worker test's broker). Tests that are PostgreSQL-only skip
themselves with their reason and have a SQLite counterpart (two concurrent beats)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

MODULES = [
    "tests/publishing/test_automations.py",
    "tests/publishing/test_automations_triggers.py",
    "tests/publishing/test_automations_demo.py",
    "tests/publishing/test_automations_worker.py",
    "tests/publishing/test_api_automations.py",
    "tests/publishing/test_admin_automations.py",
    "tests/core/test_demo_data.py",
]


def test_the_automation_tests_pass_on_sqlite():
    if connection.vendor == "sqlite":
        pytest.skip("this run is on SQLite already: the modules run here directly")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BULLETIN_VAR_DIR")}
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *MODULES],
        cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    report = child.stdout[-4000:] + child.stderr[-2000:]
    assert child.returncode == 0, report
    passed = re.search(r"(\d+) passed", child.stdout)
    assert passed and int(passed.group(1)) >= 45, report
    skipped = re.search(r"(\d+) skipped", child.stdout)
    expected = 1 if settings.REDIS_URL else 2  # the SKIP LOCKED test; without Redis, the worker test
    assert skipped is not None and int(skipped.group(1)) == expected, report
