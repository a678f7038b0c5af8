"""Automations on the embedded SQLite default (`make run`): CI runs the suite once, on PostgreSQL,
so this test runs the automation test modules again in a child pytest without DATABASE_URL
(tests/sqlite_child.py; config/settings/test.py then uses SQLite, in a file a real worker opens
too) and asserts they pass. REDIS_URL is kept (the worker test's broker). Tests that are PostgreSQL-only skip
themselves with their reason and have a SQLite counterpart (two concurrent beats)."""

from __future__ import annotations

from django.conf import settings

from tests.sqlite_child import pytest_on_sqlite

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
    child = pytest_on_sqlite(MODULES)
    assert child.returncode == 0, child.report
    assert child.passed >= 45, child.report
    expected = 1 if settings.REDIS_URL else 2  # the SKIP LOCKED test; without Redis, the worker test
    assert child.skipped == expected, child.report
