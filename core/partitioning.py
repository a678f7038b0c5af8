"""Monthly range partitions in PostgreSQL: create ahead, drop past retention, convert a plain table.

The big append-mostly tables (deliveries, engagement events) are partitioned by month so that
retention is `DROP TABLE` of a whole month instead of millions of row deletes, and so queries
bounded in time read only their months. Each has a DEFAULT partition, so an insert never fails
for want of a partition; `partitions_ensure` (beat) creates the coming months ahead and moves
any rows that landed in DEFAULT into their month.

Other databases (the embedded SQLite default) keep plain tables: every function here is a
no-op there. See docs/partitioning.md for the design and the upgrade procedure.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from django.db import connection, transaction

from core.clock import clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonthlyTable:
    """A table partitioned by month on `key` (a date or timestamptz column)."""

    table: str
    key: str
    # SQL computing the key of a row of the unpartitioned table aliased `{row}` (the copy and
    # the mirror trigger of `partition_convert`); {row} is replaced by the alias.
    key_from_row: str
    # Where the first month of existing rows is found cheaply (conversion creates partitions from it).
    first_month_sql: str = "SELECT NULL"
    # Partitions are named `<prefix>_pYYYY_MM`: the table's name, or the name a table being
    # converted will have (renaming a parent leaves its partitions' names as they are).
    prefix: str = ""
    # The name of its unique constraint in the migrations (with the key); a large install's
    # table converted by partition_tables had another one (a unique field's generated name).
    unique_name: str = ""

    @property
    def partition_prefix(self) -> str:
        return self.prefix or self.table


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def partition_name(spec: MonthlyTable, month: date) -> str:
    return f"{spec.partition_prefix}_p{month:%Y_%m}"


def default_partition_name(spec: MonthlyTable) -> str:
    return f"{spec.partition_prefix}_default"


def is_partitioned(table: str, *, using=None) -> bool:
    conn = using or connection
    if conn.vendor != "postgresql":
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partitions(spec: MonthlyTable) -> dict[date, str]:
    """{first day of month: partition name} of the monthly partitions (DEFAULT excluded)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [spec.table],
        )
        names = [row[0] for row in cursor.fetchall()]
    prefix = f"{spec.partition_prefix}_p"
    found = {}
    for name in names:
        if name.startswith(prefix):
            year, month = name[len(prefix) :].split("_")
            found[date(int(year), int(month), 1)] = name
    return found


def partitions_ensure(spec: MonthlyTable, *, through: date, since: date | None = None) -> list[str]:
    """Create the monthly partitions from `since` (default: this month) to the month of
    `through`, and DEFAULT; returns the names created.
    Rows of a new month already in DEFAULT are moved into it in the same transaction."""
    if not is_partitioned(spec.table):
        return []
    existing = partitions(spec)
    created = []
    default = default_partition_name(spec)
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [default])
        if cursor.fetchone()[0] is None:
            cursor.execute(f"CREATE TABLE {default} PARTITION OF {spec.table} DEFAULT")  # noqa: S608
            cursor.execute(_id_index_sql(default))
    month = month_start(since or clock.now().date())
    while month <= month_start(through):
        if month not in existing:
            _partition_create(spec, month)
            created.append(partition_name(spec, month))
        month = add_months(month, 1)
    if created:
        logger.info("partitions created: %s", ", ".join(created))
    return created


def _partition_create(spec: MonthlyTable, month: date) -> None:
    """CREATE ... PARTITION OF for one month. PostgreSQL refuses that while DEFAULT holds rows
    of the month, so those rows are moved out of DEFAULT first, in the same transaction."""
    name, default = partition_name(spec, month), default_partition_name(spec)
    bounds = [month, add_months(month, 1)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"CREATE TEMP TABLE partition_move (LIKE {spec.table}) ON COMMIT DROP")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {default} WHERE {spec.key} >= %s AND {spec.key} < %s RETURNING *) "  # noqa: S608
            "INSERT INTO partition_move SELECT * FROM moved",
            bounds,
        )
        cursor.execute(
            f"CREATE TABLE {name} PARTITION OF {spec.table} FOR VALUES FROM (%s) TO (%s)",  # noqa: S608
            bounds,
        )
        # Moving rows between partitions is not a change of the data: the parent's statement
        # triggers (delivery counts) must not count them twice, so the rows go in directly.
        cursor.execute(_id_index_sql(name))
        cursor.execute(f"INSERT INTO {name} SELECT * FROM partition_move")  # noqa: S608
        cursor.execute("DROP TABLE partition_move")


def _id_index_sql(partition: str) -> str:
    """Each partition's own unique index on `id`. The primary key is (id, key), so without
    statistics (a month's partition just filled by a fan-out, not analyzed yet) the planner
    cannot know that `id = x` is one row, and chose to scan whole partial indexes for the
    pipeline's updates by id (16x slower on a fresh 100,000-row month). With this index it
    always knows. Ids are unique across partitions anyway (one sequence)."""
    return f"CREATE UNIQUE INDEX {partition}_id ON {partition} (id)"


def partitions_expired(spec: MonthlyTable, *, keep_from: date) -> list[tuple[date, str]]:
    """Monthly partitions entirely before `keep_from` (a month start), oldest first."""
    return sorted((month, name) for month, name in partitions(spec).items() if add_months(month, 1) <= keep_from)


def partition_drop(spec: MonthlyTable, name: str) -> None:
    """DETACH then DROP one partition (DETACH first, so the parent is locked only briefly)."""
    with transaction.atomic(), connection.cursor() as cursor:
        # Deferred foreign-key checks of rows written earlier in the transaction run now: a
        # table with pending trigger events cannot be dropped.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"ALTER TABLE {spec.table} DETACH PARTITION {name}")
        cursor.execute(f"DROP TABLE {name}")
    logger.info("partition dropped: %s", name)


def row_count_at_most(table: str, limit: int) -> int:
    """min(rows, limit + 1): counts no further than needed to compare with `limit`."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} LIMIT %s) AS t", [limit + 1])  # noqa: S608
        return cursor.fetchone()[0]
