"""Segments on the embedded SQLite default (`make run`): CI runs the suite once, on PostgreSQL,
so this test runs the segment test modules again in a child pytest without DATABASE_URL
(tests/sqlite_child.py) and asserts they pass: attribute rules compile to SQLite JSON functions
there (subscribers/segments/json_sql.py) with the meaning jsonb gives them on PostgreSQL."""

from __future__ import annotations

from tests.sqlite_child import pytest_on_sqlite

MODULES = [
    "tests/subscribers/test_segments_property.py",
    "tests/subscribers/test_segments_json_values.py",
    "tests/subscribers/test_api_segments.py",
    "tests/subscribers/test_admin_segments.py",
    "tests/publishing/test_segment_audience.py",
]


def test_the_segment_tests_pass_on_sqlite():
    child = pytest_on_sqlite(MODULES)
    assert child.returncode == 0, child.report
    assert child.passed >= 50, child.report
    assert child.skipped == 0, child.report
