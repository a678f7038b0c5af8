"""CSV import of subscribers, run by a Celery task with its progress in an ImportJob.

The file is checked whole before anything is written: too big, not UTF-8, no email column
or unreadable CSV fails the job and writes nothing. Then every row is validated (address,
formula cells, topics, lengths) and rows are written in chunks, a few queries per chunk,
never one per row: bulk_create(ignore_conflicts) for new subscribers, consent records and
subscriptions, bulk_update for changed names/attributes.

Rules: addresses are deduplicated case-insensitively (first row wins); suppressed addresses
and existing subscribers who unsubscribed, bounced or complained are left alone; existing
pending/active subscribers get new topics and name/attribute changes; a re-import of the same
file changes nothing. Extra columns become attributes.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from channels_app.event_models import EventType
from channels_app.services.events import subscriber_events_emit_bulk
from core.exceptions import ApplicationError
from subscribers.fields import attributes_clean, fields_by_key
from subscribers.models import (
    EMAIL_KIND,
    ConsentRecord,
    ImportJob,
    Subscriber,
    SubscriberField,
    Subscription,
    Suppression,
    Topic,
    email_hash,
)
from subscribers.services.bulk import bulk_insert_ignore
from subscribers.validators import csv_escape, email_normalize, is_formula

RESERVED_COLUMNS = ("email", "name", "topics")
_TOPIC_SEPARATORS = re.compile(r"[;|,\s]+")
_MAX_ATTRIBUTE_LENGTH = 1000
_NAME_LENGTH = Subscriber._meta.get_field("name").max_length
# Existing subscribers an import may touch; unsubscribed, bounced and complained are left alone.
_OPEN_STATUSES = (Subscriber.Status.PENDING, Subscriber.Status.ACTIVE)
REPORT_HEADER = ("row", "email", "outcome", "message")


@dataclass(frozen=True)
class ImportRow:
    line: int
    email: str
    name: str
    topic_ids: frozenset[int]
    attributes: dict[str, Any]


@dataclass
class ParsedFile:
    rows: list[ImportRow] = field(default_factory=list)
    report: list[tuple[int, str, str, str]] = field(default_factory=list)  # row, email, outcome, message
    total: int = 0
    errors: int = 0
    duplicates: int = 0


@transaction.atomic
def import_job_create(
    *,
    filename: str,
    content: bytes,
    topics: Sequence[Topic] = (),
    actor=None,
    enqueue: bool = True,
    column_map: dict[str, str] | None = None,
) -> ImportJob:
    """Check the file (size, encoding, header) and the column mapping, and queue its import.
    ApplicationError if unusable."""
    columns = _header_read(source_decode(content))
    column_map = column_map or {}
    _column_map_check(column_map, columns)
    job = ImportJob.objects.create(filename=filename[:255], source=content, created_by=actor, column_map=column_map)
    job.topics.set(topics)
    if enqueue:
        from subscribers.tasks import subscribers_import_task

        job_id = job.pk
        transaction.on_commit(lambda: subscribers_import_task.delay(job_id=job_id))
    return job


def source_decode(content: bytes) -> str:
    limit = settings.SUBSCRIBERS_IMPORT_MAX_BYTES
    if len(content) > limit:
        raise ApplicationError.for_fields(
            {"file": f"The file is {len(content) / 1e6:.1f} MB; imports are limited to {limit / 1e6:.1f} MB."}
        )
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApplicationError.for_fields(
            {
                "file": f"The file is not UTF-8 text (byte 0x{content[exc.start]:02x} at position {exc.start}). "
                "Export it as “CSV UTF-8” and upload it again; nothing was imported."
            }
        )
    if "\x00" in text:
        raise ApplicationError.for_fields({"file": "The file contains NUL bytes: it is not a CSV text file."})
    if not text.strip():
        raise ApplicationError.for_fields({"file": "The file is empty."})
    return text


def _header_read(text: str) -> list[str]:
    try:
        header = next(csv.reader(io.StringIO(text)))
    except (csv.Error, StopIteration) as exc:
        raise ApplicationError.for_fields({"file": f"The first line is not a CSV header: {exc}"})
    columns = [name.strip() for name in header]
    lowered = [name.lower() for name in columns]
    problems = []
    if "email" not in lowered:
        problems.append("The header has no “email” column.")
    if len(set(lowered)) != len(lowered):
        problems.append("Two columns have the same name.")
    if any(not name or is_formula(name) for name in columns):
        problems.append("Column names must be plain text (not empty, not starting with = + - @).")
    if problems:
        raise ApplicationError.for_fields({"file": problems})
    return [name.lower() if name.lower() in RESERVED_COLUMNS else name for name in columns]


def _column_map_check(column_map: dict[str, str], columns: list[str]) -> None:
    fields = fields_by_key()
    problems = [f"{column!r} is not a column of the file." for column in column_map if column not in columns]
    problems += [f"{key!r} is not a custom field." for key in column_map.values() if key not in fields]
    if problems:
        raise ApplicationError.for_fields({"column_map": problems})


def column_targets(
    columns: list[str], column_map: dict[str, str], fields: dict[str, SubscriberField]
) -> dict[str, str]:
    """Attribute key of each extra column: the mapping's, else the custom field whose key or
    label it is named (case-insensitively), else the column name itself (an untyped attribute)."""
    by_name = {f.key.lower(): f.key for f in fields.values()} | {
        f.label.strip().lower(): f.key for f in fields.values()
    }
    return {
        column: column_map.get(column) or by_name.get(column.strip().lower(), column)
        for column in columns
        if column not in RESERVED_COLUMNS
    }


def subscribers_import(*, job_id: int) -> ImportJob | None:
    """Run one import job (the body of subscribers_import_task). Safe to run again: idempotent."""
    claimed = ImportJob.objects.filter(pk=job_id, status__in=[ImportJob.Status.PENDING, ImportJob.Status.RUNNING])
    if not claimed.update(status=ImportJob.Status.RUNNING, started_at=timezone.now()):
        return ImportJob.objects.filter(pk=job_id).first()  # finished already (a re-delivered task), or deleted
    job = ImportJob.objects.get(pk=job_id)
    try:
        parsed = _file_parse(job)
    except ApplicationError as exc:
        return _job_finish(job, status=ImportJob.Status.FAILED, message=_error_text(exc))
    except Exception as exc:
        _job_finish(job, status=ImportJob.Status.FAILED, message=f"Unexpected error: {exc}")
        raise
    job.total_rows, job.error_count, job.duplicate_count = parsed.total, parsed.errors, parsed.duplicates
    job.save(update_fields=["total_rows", "error_count", "duplicate_count"])
    try:
        _rows_write(job, parsed)
    except Exception as exc:
        _job_finish(job, status=ImportJob.Status.FAILED, message=f"Stopped after row {job.processed_rows}: {exc}")
        raise
    return _job_finish(job, status=ImportJob.Status.COMPLETED, report=parsed.report)


def _error_text(exc: ApplicationError) -> str:
    fields = exc.extra.get("fields", {})
    return " ".join(message for messages in fields.values() for message in messages) or exc.message


def _file_parse(job: ImportJob) -> ParsedFile:
    text = source_decode(bytes(job.source))
    columns = _header_read(text)
    fields = fields_by_key()
    typing = _Typing(column_targets(columns, job.column_map or {}, fields), fields)
    topics = dict(Topic.objects.values_list("slug", "id"))
    default_topics = frozenset(job.topics.values_list("id", flat=True))
    parsed, first_line = ParsedFile(), {}
    reader = csv.reader(io.StringIO(text))
    next(reader)
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # blank line
            parsed.total += 1
            line = reader.line_num
            row, problem = _row_parse(line, columns, cells, topics, default_topics, typing)
            if problem:
                parsed.errors += 1
                parsed.report.append((line, _cell(cells, columns.index("email")), "error", problem))
            elif row.email in first_line:
                parsed.duplicates += 1
                parsed.report.append((line, row.email, "duplicate", f"Same address as row {first_line[row.email]}."))
            else:
                first_line[row.email] = line
                parsed.rows.append(row)
    except csv.Error as exc:
        raise ApplicationError.for_fields({"file": f"Line {reader.line_num} is not valid CSV: {exc}"})
    return parsed


def _cell(cells: list[str], index: int) -> str:
    return cells[index] if index < len(cells) else ""


@dataclass(frozen=True)
class _Typing:
    targets: dict[str, str]  # column -> attribute key
    fields: dict[str, SubscriberField]

    def attributes(self, values: dict[str, str]) -> tuple[dict[str, Any], str]:
        """A row's attributes, typed by their custom fields; or why not (every bad cell named)."""
        raw = {self.targets[k]: v for k, v in values.items() if k in self.targets and v}
        try:
            return attributes_clean(raw, fields=self.fields, prefix="attribute"), ""
        except ValidationError as exc:
            errors = "; ".join(f"{name.split('.', 1)[1]}: {' '.join(m)}" for name, m in exc.message_dict.items())
            return {}, f"Type error: {errors}"


def _row_parse(
    line: int,
    columns: list[str],
    cells: list[str],
    topics: dict[str, int],
    default_topics: frozenset[int],
    typing: _Typing,
) -> tuple[ImportRow | None, str]:
    if len(cells) > len(columns):
        return None, f"{len(cells)} cells for {len(columns)} columns."
    values = dict(zip(columns, (cell.strip() for cell in cells), strict=False))
    formulas = [name for name, value in values.items() if is_formula(value)]
    if formulas:
        return None, f"Formula-like value refused in {', '.join(formulas)} (starts with = + - @ tab or CR)."
    try:
        email = email_normalize(values.get("email", ""))
    except ValidationError as exc:
        return None, " ".join(exc.messages)
    name = values.get("name", "")
    if len(name) > _NAME_LENGTH:
        return None, f"The name is longer than {_NAME_LENGTH} characters."
    slugs = {slug for slug in _TOPIC_SEPARATORS.split(values.get("topics", "").lower()) if slug}
    unknown = sorted(slugs - topics.keys())
    if unknown:
        return None, f"Unknown topic(s): {', '.join(unknown)}."
    if any(len(v) > _MAX_ATTRIBUTE_LENGTH for k, v in values.items() if k not in RESERVED_COLUMNS):
        return None, f"An attribute is longer than {_MAX_ATTRIBUTE_LENGTH} characters."
    attributes, problem = typing.attributes(values)
    if problem:
        return None, problem
    topic_ids = frozenset(topics[slug] for slug in slugs) | default_topics
    return ImportRow(line, email, name, topic_ids, attributes), ""


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0


def _rows_write(job: ImportJob, parsed: ParsedFile) -> None:
    size = max(1, settings.SUBSCRIBERS_IMPORT_CHUNK_SIZE)
    counts = _Counts()
    context = {"source": f"import #{job.pk}: {job.filename}"[:255], "actor_id": job.created_by_id}
    for start in range(0, len(parsed.rows), size):
        with transaction.atomic():
            _chunk_write(parsed.rows[start : start + size], counts, parsed.report, context)
        # Invalid and duplicate rows were dealt with while parsing: they count as processed.
        ImportJob.objects.filter(pk=job.pk).update(
            processed_rows=parsed.errors + parsed.duplicates + min(start + size, len(parsed.rows)),
            created_count=counts.created,
            updated_count=counts.updated,
            unchanged_count=counts.unchanged,
            skipped_count=counts.skipped,
        )
    ImportJob.objects.filter(pk=job.pk).update(processed_rows=parsed.total)
    job.refresh_from_db(fields=["processed_rows", "created_count", "updated_count", "unchanged_count", "skipped_count"])


def _chunk_write(rows: list[ImportRow], counts: _Counts, report: list, context: dict[str, Any]) -> None:
    now = timezone.now()
    emails = [row.email for row in rows]
    existing = {
        s.email.lower(): s
        for s in Subscriber.objects.filter(email__lower__in=emails).only("id", "email", "status", "name", "attributes")
    }
    suppressed = set(
        Suppression.objects.filter(email_hash__in=[email_hash(e) for e in emails]).values_list("email_hash", flat=True)
    )
    new_rows, kept_rows, changed = [], [], []
    for row in rows:
        subscriber = existing.get(row.email)
        if email_hash(row.email) in suppressed or (subscriber and subscriber.status not in _OPEN_STATUSES):
            counts.skipped += 1
            report.append((row.line, row.email, "skipped", "Suppressed or unsubscribed: left unchanged."))
        elif subscriber is None:
            new_rows.append(row)
        else:
            kept_rows.append(row)
            if _subscriber_merge(subscriber, row, now):
                changed.append(subscriber)
    counts.updated += len(changed)
    counts.unchanged += len(kept_rows) - len(changed)
    Subscriber.objects.bulk_update(changed, ["name", "attributes", "updated_at"])
    ids, created = _subscribers_create(new_rows, now, context)
    counts.created += created
    ids.update({row.email: existing[row.email].pk for row in kept_rows})
    pairs = [(ids[row.email], topic_id) for row in new_rows + kept_rows for topic_id in row.topic_ids]
    bulk_insert_ignore(
        Subscription,
        columns={"subscriber_id": [p[0] for p in pairs], "topic_id": [p[1] for p in pairs]},
        constants={"channel_kind": EMAIL_KIND, "frequency": Subscription.Frequency.INSTANT},
    )


def _subscriber_merge(subscriber: Subscriber, row: ImportRow, now) -> bool:
    attributes = {**subscriber.attributes, **row.attributes}
    name = row.name or subscriber.name
    if (name, attributes) == (subscriber.name, subscriber.attributes):
        return False
    subscriber.name, subscriber.attributes, subscriber.updated_at = name, attributes, now
    return True


def _subscribers_create(rows: list[ImportRow], now, context: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Insert new subscribers and their consent records; returns {email: id} and how many were created.

    A concurrent signup of the same address wins (the row is skipped, not failed) and gets no
    import consent record."""
    if not rows:
        return {}, 0
    emails = [row.email for row in rows]
    inserted = bulk_insert_ignore(
        Subscriber,
        columns={
            "email": emails,
            "name": [row.name for row in rows],
            "attributes": [row.attributes for row in rows],
        },
        constants={"status": Subscriber.Status.ACTIVE, "source": "import", "confirmed_at": now},
        returning=("email", "id"),
    )
    if inserted is None:  # not PostgreSQL: read the ids back
        inserted = Subscriber.objects.filter(email__lower__in=emails).values_list("email", "id")
    created = {email.lower(): pk for email, pk in inserted}
    bulk_insert_ignore(
        ConsentRecord,
        columns={"subscriber_id": list(created.values())},
        constants={
            "action": ConsentRecord.Action.IMPORTED,
            "method": ConsentRecord.Method.IMPORT,
            "source": context["source"],
            "actor_id": context["actor_id"],
            "wording": "Consent collected elsewhere and asserted by the importer.",
        },
    )
    subscriber_events_emit_bulk(type=EventType.SUBSCRIBER_CREATED, subscriber_ids=list(created.values()))
    ids = dict(created)
    missing = [email for email in emails if email not in ids]
    if missing:
        ids.update(
            (e.lower(), pk) for e, pk in Subscriber.objects.filter(email__lower__in=missing).values_list("email", "id")
        )
    return ids, len(created)


def _job_finish(job: ImportJob, *, status: str, message: str = "", report: list | None = None) -> ImportJob:
    job.status, job.message, job.finished_at = status, message, timezone.now()
    job.error_report = import_report_csv(report) if report else ""
    job.source = b""  # personal data we no longer need
    job.save(update_fields=["status", "message", "finished_at", "error_report", "source"])
    return job


def import_report_csv(report: list[tuple[int, str, str, str]]) -> str:
    """Rows that were not imported as given. Escaped: the report is opened in spreadsheets."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(REPORT_HEADER)
    writer.writerows([tuple(csv_escape(value) for value in entry) for entry in sorted(report)])
    return buffer.getvalue()
