"""Which task results count as "did nothing" for the quiet periodic-task logs."""

import logging

import pytest

from core.observability.quiet import QuietPeriodicTasksFilter, result_is_idle


@pytest.mark.parametrize(
    "result",
    [None, 0, {}, [], {"read": 0, "stored": 0, "skipped": True, "seconds": 0.0, "reasons": {}}, {"due": 0}],
)
def test_results_without_work_are_idle(result):
    assert result_is_idle(result)


@pytest.mark.parametrize(
    "result", [3, {"read": 2, "stored": 2, "skipped": False}, {"reasons": {"tracking_off": 1}}, [1]]
)
def test_results_with_work_are_not_idle(result):
    assert not result_is_idle(result)


def _record(name, msg, args, level=logging.INFO):
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_the_filter_drops_routine_lines_of_periodic_tasks_only(db):
    quiet = QuietPeriodicTasksFilter()
    drain = "analytics.tasks.tracking_buffer_drain_task"
    assert not quiet.filter(_record("celery.beat", "Scheduler: Sending due task %s (%s)", ("Drain", drain)))
    assert not quiet.filter(
        _record("celery.worker.strategy", "Task %(name)s[%(id)s] received", {"name": drain, "id": "1"})
    )
    other = {"name": "publishing.tasks.send_materialize_task", "id": "2"}
    assert quiet.filter(_record("celery.worker.strategy", "Task %(name)s[%(id)s] received", other))
    succeeded = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    busy = {"name": drain, "id": "3", "runtime": 0.1, "return_value": "{'stored': 2}"}
    assert quiet.filter(_record("celery.app.trace", succeeded, busy)), "a run that did something is logged"
    failing = {"name": drain, "id": "4"}
    assert quiet.filter(_record("celery.worker.strategy", "Task %(name)s[%(id)s] failed", failing, logging.ERROR))
