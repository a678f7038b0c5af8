"""CSV import: validation of every row, dedupe, suppression, idempotency, bulk writes, the task path."""

import csv
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from core.exceptions import ApplicationError
from subscribers.models import ConsentRecord, ImportJob, Subscriber, Subscription, Suppression, email_hash
from subscribers.selectors import mailable_subscribers
from subscribers.services import import_job_create
from tests.factories import SubscriberFactory, SubscriptionFactory, SuppressionFactory, TopicFactory

pytestmark = pytest.mark.django_db


def _import(content: str | bytes, topics=(), django_capture_on_commit_callbacks=None) -> ImportJob:
    """Create the job and run it through the real task (eager in tests), as admin uploads do."""
    raw = content.encode() if isinstance(content, str) else content
    job = import_job_create(filename="people.csv", content=raw, topics=list(topics), enqueue=False)
    from subscribers.tasks import subscribers_import_task

    subscribers_import_task.apply(kwargs={"job_id": job.pk}, throw=True)
    job.refresh_from_db()
    return job


def _report(job: ImportJob) -> list[dict]:
    return list(csv.DictReader(io.StringIO(job.error_report)))


@pytest.fixture
def topics():
    return TopicFactory(slug="news"), TopicFactory(slug="sports")


def test_rows_become_active_subscribers_with_topics_attributes_and_consent(topics):
    job = _import("email,name,topics,plan,city\nAda@Example.com,Ada,news;sports,pro,Paris\ngrace@example.com,,news,,\n")
    assert (job.status, job.total_rows, job.processed_rows, job.created_count, job.error_count) == (
        "completed",
        2,
        2,
        2,
        0,
    )
    ada = Subscriber.objects.get(email="ada@example.com")
    assert (ada.name, ada.status, ada.source, ada.attributes) == (
        "Ada",
        "active",
        "import",
        {"plan": "pro", "city": "Paris"},
    )
    assert set(ada.subscriptions.values_list("topic__slug", flat=True)) == {"news", "sports"}
    record = ada.consent_records.get()
    assert (record.action, record.method) == ("imported", "import") and f"import #{job.pk}" in record.source
    assert job.source == b"" or bytes(job.source) == b"", "the uploaded file is not kept"


def test_default_topics_apply_to_every_row(topics):
    news, sports = topics
    _import("email,topics\na@example.com,\nb@example.com,news\n", topics=[sports])
    pairs = set(Subscription.objects.values_list("subscriber__email", "topic__slug"))
    assert pairs == {("a@example.com", "sports"), ("b@example.com", "news"), ("b@example.com", "sports")}


def test_every_invalid_row_is_reported_and_skipped_while_valid_rows_import(topics):
    content = (
        "email,name,topics,note\n"
        "ok@example.com,Ok,news,\n"
        "not-an-email,Bad,,\n"
        "=cmd|' /C calc'!A0@example.com,,,\n"
        'formula@example.com,"=HYPERLINK(""http://evil"")",,\n'
        "phone@example.com,,,+33 6 12 34 56 78\n"
        "topic@example.com,,nope,\n"
        "long@example.com," + "x" * 201 + ",,\n"
        "cells@example.com,a,news,b,extra\n"
    )
    job = _import(content)
    assert (job.total_rows, job.created_count, job.error_count) == (8, 2, 6)
    assert set(Subscriber.objects.values_list("email", flat=True)) == {"ok@example.com", "phone@example.com"}
    assert Subscriber.objects.get(email="phone@example.com").attributes == {"note": "+33 6 12 34 56 78"}
    report = {int(r["row"]): r for r in _report(job)}
    assert set(report) == {3, 4, 5, 7, 8, 9}
    assert "valid email" in report[3]["message"]
    assert "Formula" in report[5]["message"] and "Unknown topic(s): nope" in report[7]["message"]
    assert report[4]["email"].startswith("'="), "the report itself is escaped for spreadsheets"


def test_duplicates_are_found_case_insensitively_in_the_file_and_the_database(topics):
    SubscriberFactory(email="known@example.com", name="Known")
    job = _import("email,name\nada@example.com,Ada\nADA@example.com,Other\n Known@Example.com ,\n")
    assert (job.created_count, job.duplicate_count, job.unchanged_count) == (1, 1, 1)
    assert Subscriber.objects.get(email="ada@example.com").name == "Ada", "the first row wins"
    assert Subscriber.objects.filter(email__lower="known@example.com").count() == 1
    assert [r["outcome"] for r in _report(job)] == ["duplicate"]


def test_reimporting_the_same_file_changes_nothing(topics):
    content = "email,name,topics,plan\nada@example.com,Ada,news,pro\ngrace@example.com,Grace,sports,\n"
    _import(content)
    before = (
        list(Subscriber.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values()),
        ConsentRecord.objects.count(),
    )
    job = _import(content)
    after = (
        list(Subscriber.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values()),
        ConsentRecord.objects.count(),
    )
    assert before == after
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 0, 2)


def test_existing_subscribers_get_new_names_attributes_and_topics_but_keep_their_choices(topics):
    news, sports = topics
    ada = SubscriberFactory(email="ada@example.com", name="", attributes={"plan": "free", "team": "a"})
    SubscriptionFactory(subscriber=ada, topic=news, frequency="off")
    job = _import("email,name,topics,plan\nada@example.com,Ada,news;sports,pro\n")
    ada.refresh_from_db()
    assert job.updated_count == 1
    assert (ada.name, ada.attributes) == ("Ada", {"plan": "pro", "team": "a"})
    assert dict(ada.subscriptions.values_list("topic__slug", "frequency")) == {"news": "off", "sports": "instant"}


@pytest.mark.parametrize("status", ["unsubscribed", "bounced", "complained"])
def test_an_import_never_reactivates_unsubscribed_or_bounced_subscribers(topics, status):
    subscriber = SubscriberFactory(email="ada@example.com", status=status)
    job = _import("email,name,topics\nada@example.com,New name,news\n")
    subscriber.refresh_from_db()
    assert (subscriber.status, job.skipped_count) == (status, 1)
    assert not subscriber.subscriptions.exists() and subscriber.name != "New name"


def test_suppressed_and_erased_addresses_are_never_imported_even_again(topics):
    SuppressionFactory(email="bounced@example.com", reason="hard_bounce")
    Suppression.objects.create(email="", email_hash=email_hash("erased@example.com"), reason="erased")
    content = "email\nbounced@example.com\nERASED@example.com\nok@example.com\n"
    for _ in range(2):
        job = _import(content)
        assert job.skipped_count == 2
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ok@example.com"]
    assert list(mailable_subscribers().values_list("email", flat=True)) == ["ok@example.com"]


def test_a_suppressed_address_with_an_active_subscriber_stays_out_of_audiences_after_reimport(topics):
    subscriber = SubscriberFactory(email="ada@example.com")
    SuppressionFactory(email="ada@example.com", reason="manual")
    _import("email,topics\nada@example.com,news\n")
    assert not mailable_subscribers().filter(pk=subscriber.pk).exists()


def test_a_non_utf8_file_is_refused_with_a_clear_error_and_writes_nothing():
    content = "email,name\nzoe@example.com,Zoë\n".encode("latin-1")
    with pytest.raises(ApplicationError) as caught:
        import_job_create(filename="latin1.csv", content=content)
    assert "not UTF-8" in caught.value.extra["fields"]["file"][0]
    assert not ImportJob.objects.exists() and not Subscriber.objects.exists()


def test_a_non_utf8_file_that_reaches_the_task_fails_the_job_and_writes_nothing():
    job = ImportJob.objects.create(filename="x.csv", source="email\nzoë@example.com\n".encode("cp1252"))
    from subscribers.services import subscribers_import

    job = subscribers_import(job_id=job.pk)
    assert job.status == "failed" and "not UTF-8" in job.message
    assert not Subscriber.objects.exists()


def test_an_oversize_file_is_refused(settings):
    settings.SUBSCRIBERS_IMPORT_MAX_BYTES = 100
    with pytest.raises(ApplicationError) as caught:
        import_job_create(filename="big.csv", content=b"email\n" + b"a@example.com\n" * 20)
    assert "limited to" in caught.value.extra["fields"]["file"][0]
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"name,city\nAda,Paris\n", "email\u201d column"),
        (b"email,Email\na@example.com,b\n", "same name"),
        (b"email,=cmd\na@example.com,b\n", "plain text"),
        (b"email\x00\n", "NUL"),
    ],
)
def test_unusable_files_are_refused_before_anything_is_written(content, message):
    with pytest.raises(ApplicationError) as caught:
        import_job_create(filename="bad.csv", content=content)
    assert message in " ".join(caught.value.extra["fields"]["file"])
    assert not ImportJob.objects.exists()


def test_a_utf8_bom_is_accepted():
    job = _import("\ufeffemail,name\nzoe@example.com,Zoë\n".encode())
    assert job.created_count == 1 and Subscriber.objects.get().name == "Zoë"


def test_the_import_writes_in_chunks_not_one_query_per_row(settings, django_assert_max_num_queries, topics):
    settings.SUBSCRIBERS_IMPORT_CHUNK_SIZE = 500
    rows = "".join(f"user{i}@example.com,User {i},news\n" for i in range(2000))
    job = import_job_create(filename="many.csv", content=("email,name,topics\n" + rows).encode(), enqueue=False)
    from subscribers.services import subscribers_import

    # PostgreSQL: ~11 queries per chunk. SQLite splits bulk inserts at its parameter limit, still
    # far below one query per row.
    with django_assert_max_num_queries(60 if connection.vendor == "postgresql" else 200):
        subscribers_import(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.created_count, job.processed_rows) == ("completed", 2000, 2000)
    assert Subscription.objects.count() == 2000 and ConsentRecord.objects.count() == 2000


def test_creating_a_job_queues_the_task_on_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = import_job_create(filename="one.csv", content=b"email\nada@example.com\n")
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == "completed" and Subscriber.objects.get().email == "ada@example.com"


def test_a_finished_job_is_not_run_twice():
    job = _import("email\nada@example.com\n")
    from subscribers.services import subscribers_import

    again = subscribers_import(job_id=job.pk)
    assert again.status == "completed" and again.created_count == 1


def test_the_management_command_imports_and_writes_the_report(tmp_path, topics, capsys):
    source = tmp_path / "people.csv"
    source.write_text("email,topics\nada@example.com,news\nbad,\n", encoding="utf-8")
    report = tmp_path / "report.csv"
    call_command("import_subscribers", str(source), "--topics", "sports", "--report", str(report))
    out = capsys.readouterr().out
    assert "1 created" in out and "1 errors" in out
    assert "bad" in report.read_text()
    assert set(Subscription.objects.values_list("topic__slug", flat=True)) == {"news", "sports"}


def test_the_management_command_refuses_unknown_topics_and_bad_files(tmp_path):
    source = tmp_path / "people.csv"
    source.write_bytes("email\nzoë@example.com\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_subscribers", str(source))
    with pytest.raises(CommandError, match="Unknown topic"):
        call_command("import_subscribers", str(source), "--topics", "nope")
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_subscribers", str(tmp_path / "missing.csv"))
    assert not Subscriber.objects.exists()


def test_bulk_insert_skips_conflicts_fills_defaults_and_reports_what_it_inserted():
    from subscribers.services.bulk import bulk_insert_ignore

    SubscriberFactory(email="taken@example.com", name="Taken")
    inserted = bulk_insert_ignore(
        Subscriber,
        columns={
            "email": ["new@example.com", "taken@example.com"],
            "name": ["New", "Intruder"],
            "attributes": [{"k": "v"}, {}],
        },
        constants={"status": "active", "source": "import"},
        returning=("email", "id"),
    )
    new = Subscriber.objects.get(email="new@example.com")
    if connection.vendor == "postgresql":
        assert inserted == [("new@example.com", new.pk)]
    else:
        assert inserted is None
    assert Subscriber.objects.get(email="taken@example.com").name == "Taken"
    assert (new.attributes, new.timezone, new.token_version, new.status) == ({"k": "v"}, "UTC", 1, "active")
    assert new.created_at is not None and new.updated_at is not None
