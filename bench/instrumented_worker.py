"""A real Celery worker that also counts SQL statements and tasks (benchmarks only).

Counts accumulate in each worker process and are added to Redis after every task, so the
counting costs one Redis call per task, not per statement. Production code is untouched:
this module only wraps `celery worker`.
    python -m bench.instrumented_worker -A config worker --concurrency 2 ...
"""

from __future__ import annotations

import os
import sys

from celery.signals import task_postrun, worker_process_init

_counts = {"sql": 0, "tasks": 0}


def _count_sql(execute, sql, params, many, context):
    _counts["sql"] += 1
    return execute(sql, params, many, context)


@worker_process_init.connect
def _install(**kwargs) -> None:
    from django.db import connection

    connection.execute_wrappers.append(_count_sql)


@task_postrun.connect
def _flush(**kwargs) -> None:
    from core.redis import get_redis

    _counts["tasks"] += 1
    pipe = get_redis().pipeline()
    pipe.incrby("bench:sql", _counts["sql"])
    pipe.incrby("bench:tasks", _counts["tasks"])
    pipe.execute()
    _counts["sql"] = _counts["tasks"] = 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    from celery.bin.celery import main

    sys.argv = ["celery", *sys.argv[1:]]
    main()
