"""gunicorn settings shared by every way Bulletin's web process is started (Procfile, Dockerfile,
docker-compose, benchmarks): `gunicorn -c config/gunicorn.py config.wsgi`.

Bind address, workers and the rest stay on the command line or in GUNICORN_CMD_ARGS.
"""

import gc
import os
import shutil
import tempfile
from pathlib import Path


def on_starting(server):
    """Each worker process records its own metrics into files in PROMETHEUS_MULTIPROC_DIR and
    /metrics adds them up (prometheus_client's multiprocess mode). Set here, in the master before
    any worker imports Django; a restarted master starts from empty files (counters restart, as
    Prometheus expects)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="bulletin-web-metrics-")
    shutil.rmtree(folder, ignore_errors=True)
    Path(folder).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker):
    """Load every view module now, then move everything loaded into the permanent generation.

    A worker holds ~150,000 long-lived objects (Django, DRF, our modules); a full collection
    walks all of them (~55 ms here), and request garbage triggers one every hundred or so
    requests, which showed as the slowest few percent of API responses. Frozen objects are
    never scanned again; request objects are still collected as usual.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports the views, serializers and their modules)
    gc.collect()
    gc.freeze()
