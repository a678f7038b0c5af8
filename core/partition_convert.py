"""Turn a plain PostgreSQL table into a monthly-partitioned one while the application runs.

    1. create `<table>_partitioned` beside it: same columns, defaults, checks, identity, foreign
       keys and triggers; the primary key and every unique index extended with the partition
       key (PostgreSQL requires it); the same other indexes; partitions for every month present
       and `months_ahead` more, and DEFAULT;
    2. a row trigger on the old table mirrors every insert, update and delete into the new one;
    3. rows are copied in batches of `batch` ids (`FOR SHARE`, so a row deleted meanwhile is not
       copied back to life; ON CONFLICT DO NOTHING, so a row the trigger already mirrored is kept);
    4. swap in one short transaction: lock the old table, carry the id sequence over, drop the
       old table, rename the new one and its indexes and constraints to the old names.

Writers wait only for step 4 (milliseconds: no data moves there). Used by the migrations
(empty or small tables, in their transaction) and by `manage.py partition_tables` (large ones).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace

from django.db import connection, transaction

from core.clock import clock
from core.partitioning import MonthlyTable, add_months, is_partitioned, month_start, partitions_ensure

logger = logging.getLogger(__name__)

TEMP_SUFFIX = "_partitioned"
INDEX_SUFFIX = "_pt"


def partition_convert(
    spec: MonthlyTable,
    *,
    batch: int = 50_000,
    months_ahead: int = 3,
    lock_timeout_ms: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Convert `spec.table` (plain) to partitions; returns rows copied. Idempotent: a table
    already partitioned is left alone, and a conversion interrupted before the swap restarts."""
    if connection.vendor != "postgresql" or is_partitioned(spec.table):
        return 0
    new = spec.table + TEMP_SUFFIX
    # One transaction: the mirror trigger never exists without a table (and partitions,
    # DEFAULT among them) to write into.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER IF EXISTS partition_mirror ON {spec.table}")  # an interrupted run's
        cursor.execute(f"DROP TABLE IF EXISTS {new} CASCADE")
        _create_shadow(cursor, spec, new)
        _partitions_create(spec, new, _first_month(spec), months_ahead)
        _mirror_install(cursor, spec, new)
    copied = _copy(spec, new, batch, progress)
    _swap(spec, new, lock_timeout_ms)
    return copied


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        [table],
    )
    return [row[0] for row in cursor.fetchall()]


def _create_shadow(cursor, spec: MonthlyTable, new: str) -> None:
    old = spec.table
    cursor.execute(
        f"CREATE TABLE {new} (LIKE {old} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS "
        f"INCLUDING GENERATED INCLUDING STORAGE) PARTITION BY RANGE ({spec.key})"
    )
    cursor.execute(f"ALTER TABLE {new} ALTER COLUMN {spec.key} SET NOT NULL")
    cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {new}_pkey PRIMARY KEY (id, {spec.key})")
    for name, definition in _indexes(cursor, old):
        cursor.execute(_index_for_partitions(definition, name, old, new, spec.key))
    for name, definition in _constraints(cursor, old, "u"):
        final = spec.unique_name or name
        cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {final}{INDEX_SUFFIX} {_with_key(definition, spec.key)}")
    for name, definition in _constraints(cursor, old, "f"):
        cursor.execute(f"ALTER TABLE {new} ADD CONSTRAINT {name}{INDEX_SUFFIX} {definition}")
    cursor.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal "
        "AND tgname NOT LIKE 'partition_mirror%%'",
        [old],
    )
    for (definition,) in cursor.fetchall():  # statement triggers (delivery counts) go to the parent
        cursor.execute(re.sub(rf" ON (public\.)?{old} ", f" ON {new} ", definition, count=1))


def _indexes(cursor, table: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's indexes but those of its constraints (primary key, unique)."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = to_regclass(%s) AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
        "WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid) ORDER BY i.relname",
        [table],
    )
    return cursor.fetchall()


def _constraints(cursor, table: str, kind: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = to_regclass(%s) "
        "AND contype = %s ORDER BY conname",
        [table, kind],
    )
    return cursor.fetchall()


def _with_key(definition: str, key: str) -> str:
    """A unique index's or constraint's column list with the partition key added (PostgreSQL
    enforces uniqueness per partition only, so the key must be part of it)."""
    columns = re.search(r"\(([^()]*)\)", definition)
    if columns is None or key in [c.strip() for c in columns.group(1).split(",")]:
        return definition
    return definition[: columns.end(1)] + f", {key}" + definition[columns.end(1) :]


def _index_for_partitions(definition: str, name: str, old: str, new: str, key: str) -> str:
    """The same index on the new table, under a temporary name; a unique one gains the key."""
    sql = re.sub(rf" ON (ONLY )?(public\.)?{old} ", f" ON {new} ", definition, count=1)
    sql = sql.replace(f"INDEX {name} ON", f"INDEX {name}{INDEX_SUFFIX} ON", 1)
    if sql.startswith("CREATE UNIQUE INDEX"):
        head, _, tail = sql.partition(" USING ")
        sql = f"{head} USING {_with_key(tail, key)}"
    return sql


def _mirror_install(cursor, spec: MonthlyTable, new: str) -> None:
    old = spec.table
    columns = [c for c in _columns(cursor, old) if c != spec.key]
    names = ", ".join(columns)
    values = ", ".join(f"NEW.{c}" for c in columns)
    key = spec.key_from_row.format(row="NEW")
    cursor.execute(  # identifiers from the MonthlyTable spec and the catalog only
        f"""
        CREATE OR REPLACE FUNCTION partition_mirror_{old}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                DELETE FROM {new} WHERE id = OLD.id;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO {new} ({names}, {spec.key}) VALUES ({values}, {key}) ON CONFLICT DO NOTHING;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER partition_mirror AFTER INSERT OR UPDATE OR DELETE ON {old}
            FOR EACH ROW EXECUTE FUNCTION partition_mirror_{old}();
        """  # noqa: S608
    )


def _first_month(spec: MonthlyTable):
    with connection.cursor() as cursor:
        cursor.execute(spec.first_month_sql)
        first = cursor.fetchone()[0]
    return month_start(first.date() if hasattr(first, "date") else first) if first else None


def _partitions_create(spec: MonthlyTable, new: str, first, months_ahead: int) -> None:
    shadow = replace(spec, table=new, prefix=spec.table)
    now = month_start(clock.now().date())
    partitions_ensure(shadow, since=first or add_months(now, -1), through=add_months(now, months_ahead))


def _copy(spec: MonthlyTable, new: str, batch: int, progress) -> int:
    old = spec.table
    with connection.cursor() as cursor:
        columns = [c for c in _columns(cursor, old) if c != spec.key]
        cursor.execute(f"SELECT min(id), max(id) FROM {old}")  # noqa: S608
        low, high = cursor.fetchone()
    if low is None:
        return 0
    names = ", ".join(columns)
    values = ", ".join(f"o.{c}" for c in columns)
    key = spec.key_from_row.format(row="o")
    copied = 0
    for start in range(low, high + 1, batch):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {new} ({names}, {spec.key}) SELECT {values}, {key} FROM {old} o "  # noqa: S608
                "WHERE o.id >= %s AND o.id < %s FOR SHARE OF o ON CONFLICT DO NOTHING",
                [start, start + batch],
            )
            copied += cursor.rowcount
        if progress:
            progress(copied)
    return copied


def _swap(spec: MonthlyTable, new: str, lock_timeout_ms: int) -> None:
    old = spec.table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # see partitioning.partition_drop
        cursor.execute(f"LOCK TABLE {old} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(  # identifiers from the catalog only
            f"SELECT setval(pg_get_serial_sequence('{new}', 'id'), "  # noqa: S608
            f"GREATEST((SELECT last_value FROM {_sequence(cursor, old)}), 1))"
        )
        renames = [(name + INDEX_SUFFIX, name) for name, _ in _indexes(cursor, old)]
        constraints = [spec.unique_name or name for name, _ in _constraints(cursor, old, "u")]
        constraints += [name for name, _ in _constraints(cursor, old, "f")]
        cursor.execute(f"DROP TABLE {old}")
        cursor.execute(f"DROP FUNCTION partition_mirror_{old}()")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {old}")
        cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {new}_pkey TO {old}_pkey")
        cursor.execute(f"ALTER SEQUENCE {_sequence(cursor, old)} RENAME TO {old}_id_seq")
        for temporary, final in renames:
            cursor.execute(f"ALTER INDEX {temporary} RENAME TO {final}")
        for name in constraints:  # renaming a unique constraint renames its index too
            cursor.execute(f"ALTER TABLE {old} RENAME CONSTRAINT {name}{INDEX_SUFFIX} TO {name}")
    logger.info("%s is partitioned by month on %s", old, spec.key)


def _sequence(cursor, table: str) -> str:
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    return cursor.fetchone()[0]
