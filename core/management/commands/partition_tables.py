"""Partition the delivery and event tables of an existing install while it runs (docs/partitioning.md).

    manage.py partition_tables [--copy-batch 50000] [--table channels_app_delivery]

Run after `migrate` on PostgreSQL when the migration left a table plain (more rows than
PARTITION_INLINE_MAX_ROWS). Safe to interrupt and run again; a partitioned table is skipped.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from analytics.services.partitions import EVENTS
from channels_app.partitions import DELIVERIES
from core.partition_convert import partition_convert
from core.partitioning import is_partitioned

SPECS = {spec.table: spec for spec in (DELIVERIES, EVENTS)}


class Command(BaseCommand):
    help = "Convert the delivery and event tables to monthly partitions without stopping the application."

    def add_arguments(self, parser):
        parser.add_argument("--copy-batch", type=int, default=50_000, help="Rows copied per transaction.")
        parser.add_argument("--table", choices=sorted(SPECS), action="append", help="Only this table (repeatable).")
        parser.add_argument("--lock-timeout-ms", type=int, default=5000, help="Longest wait for the swap's lock.")

    def handle(self, *args, copy_batch: int, table: list[str] | None, lock_timeout_ms: int, **options):
        if connection.vendor != "postgresql":
            raise CommandError("Partitioning is for PostgreSQL; other databases keep plain tables.")
        if copy_batch < 1:
            raise CommandError("--copy-batch must be at least 1.")
        for name in table or list(SPECS):
            spec = SPECS[name]
            if is_partitioned(spec.table):
                self.stdout.write(f"{spec.table}: already partitioned")
                continue
            self.stdout.write(f"{spec.table}: copying in batches of {copy_batch:,}…")
            copied = partition_convert(
                spec,
                batch=copy_batch,
                months_ahead=settings.PARTITION_MONTHS_AHEAD,
                lock_timeout_ms=lock_timeout_ms,
                progress=lambda n, t=spec.table: self.stdout.write(f"{t}: {n:,} rows copied"),
            )
            self.stdout.write(self.style.SUCCESS(f"{spec.table}: partitioned by month ({copied:,} rows copied)"))
