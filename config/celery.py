"""The Celery application. Workers: `celery -A config worker -Q alerts,default,bulk,feedback`."""

from __future__ import annotations

import os
import sys
import tempfile

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
if "worker" in sys.argv and os.environ.get("WORKER_METRICS_PORT"):
    # The pool's processes each record metrics; the exporter adds up their files (prometheus
    # multiprocess mode). Set before anything imports prometheus_client.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="bulletin-worker-metrics-"))

app = Celery("bulletin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Request ids into task headers, task timing, beat lag, the worker's metrics exporter and its
# operations watchdog (core.observability.signals).
from core.observability.signals import OpsWatchdog  # noqa: E402

app.steps["worker"].add(OpsWatchdog)

if os.environ.get("BULLETIN_DEVPROCESS"):  # started by `make run` through core.devprocess
    from core.devprocess import exit_when_stopped  # noqa: E402

    exit_when_stopped()
