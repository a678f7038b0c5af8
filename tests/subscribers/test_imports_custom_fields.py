"""CSV import onto custom fields: columns mapped by key, label or an explicit mapping; values typed;
type errors reported per row and nothing of those rows written."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from core.exceptions import ApplicationError
from subscribers.models import ImportJob, Subscriber, SubscriberField
from subscribers.services import import_job_create
from subscribers.tasks import subscribers_import_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(db):
    SubscriberField.objects.create(key="age", label="Age", type="number")
    SubscriberField.objects.create(key="vip", label="Very important", type="boolean")
    SubscriberField.objects.create(key="renewal", label="Renewal", type="date")
    SubscriberField.objects.create(key="plan", label="Plan", type="choice", choices=["free", "pro"])


def _run(content: str, **kwargs) -> ImportJob:
    job = import_job_create(filename="people.csv", content=content.encode(), enqueue=False, **kwargs)
    subscribers_import_task.apply(kwargs={"job_id": job.pk}, throw=True)
    job.refresh_from_db()
    return job


def test_columns_named_like_a_field_or_mapped_onto_one_are_stored_typed(fields):
    job = _run(
        "email,AGE,Very important,Renews on,tier,city\n"
        "ada@example.com,36,yes,2027-01-31,pro,London\n"
        "bob@example.com,,no,,,\n",
        column_map={"Renews on": "renewal", "tier": "plan"},
    )
    assert (job.status, job.created_count, job.error_count) == ("completed", 2, 0)
    ada = Subscriber.objects.get(email="ada@example.com")
    assert ada.attributes == {"age": 36, "vip": True, "renewal": "2027-01-31", "plan": "pro", "city": "London"}
    assert Subscriber.objects.get(email="bob@example.com").attributes == {"vip": False}


def test_type_errors_are_reported_per_row_naming_the_field_and_those_rows_are_not_imported(fields):
    job = _run(
        "email,age,vip,renewal,plan\n"
        "ok@example.com,30,no,2027-01-01,free\n"
        "bad1@example.com,thirty,no,,\n"
        "bad2@example.com,1,maybe,2027-02-30,gold\n"
    )
    assert (job.created_count, job.error_count) == (1, 2)
    report = {row["email"]: row["message"] for row in csv.DictReader(io.StringIO(job.error_report))}
    assert "age: Expected a number" in report["bad1@example.com"]
    assert all(word in report["bad2@example.com"] for word in ("vip:", "renewal:", "plan:"))
    assert not Subscriber.objects.filter(email__startswith="bad").exists()


def test_a_mapping_to_an_unknown_field_or_column_is_refused_before_anything_is_read(fields):
    with pytest.raises(ApplicationError) as refused:
        import_job_create(
            filename="x.csv", content=b"email,a\nx@example.com,1\n", enqueue=False, column_map={"b": "nope"}
        )
    assert len(refused.value.extra["fields"]["column_map"]) == 2
    assert not ImportJob.objects.exists()


def test_the_command_maps_columns(fields, tmp_path):
    source = tmp_path / "people.csv"
    source.write_text("email,Years\nada@example.com,36\n")
    call_command("import_subscribers", str(source), "--map", "Years=age", stdout=io.StringIO())
    assert Subscriber.objects.get(email="ada@example.com").attributes == {"age": 36}
