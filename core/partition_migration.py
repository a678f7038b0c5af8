"""Migration operations for tables converted to monthly partitions (docs/partitioning.md).

A migration converts an empty or small table itself, in its transaction. A large table of an
existing install must not be rewritten or locked by `migrate`: there the migration only does
what is instant (adding a column with a constant default, dropping foreign keys), and
`manage.py partition_tables` converts it later while the application runs.
"""

from __future__ import annotations

from django.conf import settings
from django.db import migrations
from django.db.migrations.operations.base import Operation

from core.partitioning import is_partitioned


def converts_inline(connection, table: str) -> bool:
    """Whether migrations reshape `table` themselves: always on other databases; on PostgreSQL
    while it is plain and has at most PARTITION_INLINE_MAX_ROWS rows."""
    if connection.vendor != "postgresql":
        return True
    if is_partitioned(table, using=connection):
        return False
    limit = settings.PARTITION_INLINE_MAX_ROWS
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS t", [limit + 1])  # noqa: S608
        return cursor.fetchone()[0] <= limit


class InlineOnly(Operation):
    """`operation` in the migration state always; in the database only where the migration
    converts `table` itself (see converts_inline). Elsewhere partition_tables does its part."""

    reduces_to_sql = False

    def __init__(self, table: str, operation: Operation):
        self.table = table
        self.operation = operation

    def deconstruct(self):
        return (f"{__name__}.{self.__class__.__name__}", [], {"table": self.table, "operation": self.operation})

    def state_forwards(self, app_label, state):
        self.operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if converts_inline(schema_editor.connection, self.table):
            self.operation.database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if converts_inline(schema_editor.connection, self.table):
            self.operation.database_backwards(app_label, schema_editor, from_state, to_state)

    def describe(self):
        return f"{self.operation.describe()} (here unless {self.table} is large: partition_tables)"


def convert_if_small(spec_path: str) -> migrations.RunPython:
    """Partition the table now if it is small (an empty one on a new install)."""

    def forwards(apps, schema_editor):
        from django.utils.module_loading import import_string

        from core.partition_convert import partition_convert

        spec = import_string(spec_path)
        if schema_editor.connection.vendor == "postgresql" and converts_inline(schema_editor.connection, spec.table):
            partition_convert(spec, months_ahead=settings.PARTITION_MONTHS_AHEAD)

    def backwards(apps, schema_editor):
        from django.db.migrations.exceptions import IrreversibleError
        from django.utils.module_loading import import_string

        if is_partitioned(import_string(spec_path).table, using=schema_editor.connection):
            raise IrreversibleError("a partitioned table is not turned back into a plain one: restore a backup")

    return migrations.RunPython(forwards, backwards)
