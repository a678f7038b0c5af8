"""Publishing's periodic tasks live in django-celery-beat (editable in admin) and call the services."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from publishing.tasks import abtests_decide_due_task, digests_run_task, publications_publish_due_task

pytestmark = pytest.mark.django_db


def test_setup_periodic_tasks_creates_the_publishing_schedule():
    call_command("setup_periodic_tasks")
    tasks = {t.task: t for t in PeriodicTask.objects.select_related("interval")}
    due = tasks["publishing.tasks.publications_publish_due_task"]
    digests = tasks["publishing.tasks.digests_run_task"]
    decide = tasks["publishing.tasks.abtests_decide_due_task"]
    assert (due.interval.every, due.queue) == (15, "alerts")
    assert (digests.interval.every, digests.queue) == (300, "bulk")
    assert (decide.interval.every, decide.queue) == (60, "default")


def test_the_tasks_run_their_services(topic, email_channel):
    assert publications_publish_due_task.apply().get() == 0
    assert digests_run_task.apply().get() == {"due": 0, "sent": 0, "empty": 0, "skipped": 0}
    assert abtests_decide_due_task.apply().get() == 0
