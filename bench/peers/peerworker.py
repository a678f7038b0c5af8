"""The peers' worker, counting SQL statements into Redis like Bulletin's bench worker does.

python peerworker.py -A peerproject worker ...   a Celery worker (django-post-office)
python peerworker.py --newsletter                django-newsletter's submit_newsletter
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peerproject.settings")
_count = {"sql": 0}


def _count_sql(execute, sql, params, many, context):
    _count["sql"] += 1
    return execute(sql, params, many, context)


def _flush():
    import redis

    redis.Redis.from_url(os.environ["PEERS_REDIS_URL"]).incrby("peers:sql", _count["sql"])
    _count["sql"] = 0


def _install():
    from django.db import connection

    connection.execute_wrappers.append(_count_sql)


if __name__ == "__main__" and "--newsletter" in sys.argv:
    import django

    django.setup()
    _install()
    from newsletter.models import Submission

    try:
        Submission.submit_queue()
    finally:
        _flush()
elif __name__ == "__main__":
    from celery.signals import task_postrun, worker_process_init

    worker_process_init.connect(lambda **kw: _install(), weak=False)
    task_postrun.connect(lambda **kw: _flush(), weak=False)
    from celery.bin.celery import main

    sys.argv = ["celery", *sys.argv[1:]]
    main()
