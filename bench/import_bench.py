"""Import benchmark: a 100,000-row CSV through the real task path.

    make bench NAME=import

Generates the file reproducibly (fixed seed) with ~1% invalid addresses, ~1% case-variant
duplicates and a few formula cells, creates the ImportJob as the admin upload does, then runs
`subscribers_import_task` synchronously with `.apply()` (the same code a worker runs). Creates
and migrates its database when missing. Last line: one JSON object, headline rows/s.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time

from bench import common

common.use_services(database="bulletin_bench_import", redis_db=8)
ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
SEED = 2026


def csv_generate(rows: int, seed: int) -> tuple[bytes, dict[str, int]]:
    rng = random.Random(seed)
    first_names = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Linus"]
    plans = ["free", "pro", "team", ""]
    topics = ["news", "product", "security", "news;product", "", "security;news"]
    lines = ["email,name,topics,plan,city"]
    planted = {"invalid": 0, "duplicates": 0, "formulas": 0}
    for i in range(rows):
        roll = rng.random()
        if roll < 0.01:
            planted["invalid"] += 1
            lines.append(f"user{i}-at-example.com,Broken,news,,")
        elif roll < 0.02 and i > 10:
            planted["duplicates"] += 1
            lines.append(f"USER{rng.randrange(i)}@Example.COM,Again,,,")
        elif roll < 0.021:
            planted["formulas"] += 1
            lines.append(f'user{i}@example.com,"=HYPERLINK(""http://evil.example"")",news,,')
        else:
            name = f"{rng.choice(first_names)} {i}"
            lines.append(f"user{i}@example.com,{name},{rng.choice(topics)},{rng.choice(plans)},City {i % 97}")
    return ("\n".join(lines) + "\n").encode(), planted


def main() -> int:
    common.django_setup()
    common.ensure_database()
    from django.db import connection

    from subscribers.models import ImportJob, Subscriber, Topic
    from subscribers.services import import_job_create
    from subscribers.tasks import subscribers_import_task

    with connection.cursor() as cursor:  # a clean slate each run (this is the bench database)
        tables = ["subscribers_importjob", "subscribers_subscriber"]
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        else:
            ImportJob.objects.all().delete()
            Subscriber.objects.all().delete()
    for slug in ("news", "product", "security"):
        Topic.objects.get_or_create(slug=slug, defaults={"name": slug.title()})

    content, planted = csv_generate(ROWS, SEED)
    job = import_job_create(filename="bench.csv", content=content, enqueue=False)
    started = time.perf_counter()
    subscribers_import_task.apply(kwargs={"job_id": job.pk}, throw=True)
    seconds = time.perf_counter() - started
    job.refresh_from_db()

    again = import_job_create(filename="bench.csv", content=content, enqueue=False)
    started = time.perf_counter()
    subscribers_import_task.apply(kwargs={"job_id": again.pk}, throw=True)
    reimport_seconds = time.perf_counter() - started
    again.refresh_from_db()

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes
    result = {
        "name": "import",
        "value": round(job.total_rows / seconds, 1),
        "unit": "rows/s",
        "rows": job.total_rows,
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_rss_mb, 1),
        "created": job.created_count,
        "errors": job.error_count,
        "duplicates": job.duplicate_count,
        "status": job.status,
        "planted": planted,
        "reimport_seconds": round(reimport_seconds, 2),
        "reimport_created": again.created_count,
        "database": connection.vendor,
        "path": "subscribers_import_task.apply()",
    }
    print(json.dumps(result))
    return 0 if job.status == ImportJob.Status.COMPLETED and again.created_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
