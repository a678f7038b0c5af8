"""The few SQL fragments that differ between PostgreSQL and the embedded SQLite default.

The advance and the enrollment write one statement per step and batch on both databases; only
these pieces are spelled per vendor. SQLite (>= 3.35: RETURNING, UPDATE ... FROM, upserts, JSON
functions) gets the same statements with:

- lists of ids as one JSON text parameter read by `json_each` (PostgreSQL: one array parameter,
  `= ANY(%s)`, so the statement text stays short and constant): `core/sql.py`, shared with the
  fan-out;
- `json_object` / `json_set` instead of `jsonb_build_object` / `||`;
- datetimes as the ORM stores them (naive UTC text), and read back into aware datetimes;
- no time zone database in SQL: "wait until a local time" is computed in Python per distinct
  subscriber zone (advance.py), one UPDATE per zone;
- no `SKIP LOCKED`: SQLite has one writer at a time. Our SQLite settings open every transaction
  with BEGIN IMMEDIATE (config/settings/base.py), and the claim is itself an UPDATE (`claim_sql`),
  so a batch holds the write lock from its first statement even where a transaction started
  deferred: a second beat waits for it (the 30 s busy timeout) and then finds the claimed rows
  moved on, never runs them twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime

from core.sql import ids_rows, in_list, list_param, postgresql  # noqa: F401  (this module's callers use them as sql.*)


def json_param() -> str:
    """A JSON document given as text (json.dumps)."""
    return "%s::jsonb" if postgresql() else "json(%s)"


def json_null() -> str:
    return "NULL::jsonb" if postgresql() else "NULL"


def json_build(parts: str) -> str:
    """An object from `'key', value, ...`."""
    return f"{'jsonb_build_object' if postgresql() else 'json_object'}({parts})"


def json_text(column: str) -> str:
    """The text of a top-level key (`%s`) of a JSON column, as PostgreSQL's `->>` gives it
    (SQLite's `->>` gives numbers as numbers and booleans as 1/0)."""
    if postgresql():
        return f"{column} ->> %s"
    return (
        "(SELECT CASE j.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(j.value AS TEXT) END "  # noqa: S608
        f"FROM json_each({column}) j WHERE j.key = %s)"
    )


def json_set_key(column: str, key: str, value: Any) -> tuple[str, list]:
    """`column` with `key` set to `value` (any JSON value, null included)."""
    if postgresql():
        return f"coalesce({column}, '{{}}'::jsonb) || jsonb_build_object(%s::text, %s::jsonb)", [key, json.dumps(value)]
    path = '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"json_set(coalesce({column}, '{{}}'), %s, json(%s))", [path, json.dumps(value)]


def returning(alias: str, *columns: str) -> str:
    """RETURNING columns of the updated table `alias` of an UPDATE ... FROM (SQLite names them
    unqualified: only that table can appear there)."""
    prefix = f"{alias}." if postgresql() else ""
    return "RETURNING " + ", ".join(prefix + column for column in columns)


def claim_sql(table: str) -> str:
    """Up to `batch` due rows (params: state, now, batch), oldest first, for this transaction only."""
    columns = "id, version_id, position, occurrence, due_at"
    due = "state = %s AND due_at <= %s ORDER BY due_at LIMIT %s"
    if postgresql():
        return f"SELECT {columns} FROM {table} WHERE {due} FOR UPDATE SKIP LOCKED"  # noqa: S608
    # A write first: the transaction holds SQLite's write lock before it reads what is due.
    return (
        f"UPDATE {table} SET updated_at = updated_at WHERE id IN (SELECT id FROM {table} WHERE {due}) "  # noqa: S608
        f"RETURNING {columns}"
    )


def adapt_params(params: Sequence[Any]) -> Sequence[Any]:
    """Datetimes as the ORM stores them (SQLite: naive UTC text, compared as text)."""
    if postgresql():
        return params
    adapt = connection.ops.adapt_datetimefield_value
    return [adapt(p) if isinstance(p, datetime) else p for p in params]


def read_datetime(value: Any) -> datetime:
    """A datetime column read by a raw cursor (SQLite returns the stored text)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
