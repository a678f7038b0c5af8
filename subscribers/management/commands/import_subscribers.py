"""manage.py import_subscribers FILE.csv [--topics a,b] [--background] [--report errors.csv]"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core.exceptions import ApplicationError
from subscribers.models import ImportJob, Topic
from subscribers.services import import_job_create
from subscribers.tasks import subscribers_import_task


class Command(BaseCommand):
    help = (
        "Import subscribers from a UTF-8 CSV (email, name, topics, other columns → attributes). "
        "Runs the import task here and now, or on a worker with --background."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--topics", default="", help="Comma-separated topic slugs added to every row.")
        parser.add_argument("--background", action="store_true", help="Queue it for a Celery worker and return.")
        parser.add_argument("--report", type=Path, help="Write the per-row report (errors, duplicates, skips) here.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=KEY",
            help="Import a column into a custom field not named like it (repeatable).",
        )

    def handle(self, *args, file: Path, topics: str, background: bool, report: Path | None, **options):
        if not file.is_file():
            raise CommandError(f"No such file: {file}")
        chosen = self._topics(topics)
        if any("=" not in pair for pair in options["map"]):
            raise CommandError("--map takes COLUMN=KEY.")
        column_map = dict(pair.split("=", 1) for pair in options["map"])
        try:
            job = import_job_create(
                filename=file.name,
                content=file.read_bytes(),
                topics=chosen,
                enqueue=background,
                column_map=column_map,
            )
        except ApplicationError as exc:
            raise CommandError(" ".join(m for ms in exc.extra.get("fields", {}).values() for m in ms) or exc.message)
        if background:
            self.stdout.write(f"Queued import #{job.pk}; follow it in admin (Subscribers › Import jobs).")
            return
        subscribers_import_task.apply(kwargs={"job_id": job.pk}, throw=True)
        job = ImportJob.objects.get(pk=job.pk)
        if report and job.error_report:
            report.write_text(job.error_report, encoding="utf-8")
        self._summary(job, report)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(job.message)

    def _topics(self, value: str) -> list[Topic]:
        slugs = [slug.strip() for slug in value.split(",") if slug.strip()]
        found = list(Topic.objects.filter(slug__in=slugs))
        missing = sorted(set(slugs) - {t.slug for t in found})
        if missing:
            raise CommandError(f"Unknown topic(s): {', '.join(missing)}")
        return found

    def _summary(self, job: ImportJob, report: Path | None) -> None:
        self.stdout.write(
            f"Import #{job.pk} {job.status}: {job.total_rows} rows, {job.created_count} created, "
            f"{job.updated_count} updated, {job.unchanged_count} unchanged, {job.skipped_count} skipped "
            f"(suppressed/unsubscribed), {job.duplicate_count} duplicates, {job.error_count} errors."
        )
        if job.error_count and report:
            self.stdout.write(f"Row report written to {report}.")
        elif job.error_count:
            self.stdout.write("Use --report FILE to get the rows with errors.")
