"""Lists of ids as one SQL parameter, on PostgreSQL and on the embedded SQLite default.

PostgreSQL takes an array (`= ANY(%s)`, `unnest(%s::bigint[])`), SQLite one JSON text read by
`json_each`: either way the statement text stays short and constant however many ids it holds
(the automations' batches, the fan-out's pages of segment members).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection


def postgresql() -> bool:
    return connection.vendor == "postgresql"


def in_list() -> str:
    """`column {in_list()}` with `list_param(values)` as its one parameter."""
    return "= ANY(%s)" if postgresql() else "IN (SELECT value FROM json_each(%s))"


def list_param(values: Sequence[Any]) -> Any:
    return list(values) if postgresql() else json.dumps(list(values))


def ids_rows() -> str:
    """A subquery of one column `id`, one row per id of `list_param(ids)`."""
    return "SELECT unnest(%s::bigint[]) AS id" if postgresql() else "SELECT value AS id FROM json_each(%s)"
