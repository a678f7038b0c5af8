"""Metrics recorded by the processes themselves (Prometheus client).

Under gunicorn and Celery's prefork pool each process records its own; with
PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.py and config/celery.py set it), every process
writes to files there and a scrape adds them up (prometheus_client's multiprocess mode).
Figures read from the database or Redis at scrape time live in collectors.py.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

HTTP_SECONDS = Histogram(
    "bulletin_http_request_duration_seconds",
    "Time to answer an HTTP request, by view.",
    ["view", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROVIDER_SECONDS = Histogram(
    "bulletin_provider_call_duration_seconds",
    "Time of one provider call (one chunk of messages), by channel kind.",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROVIDER_CALLS = Counter(
    "bulletin_provider_calls_total",
    "Provider calls by channel kind and outcome (ok, transient, throttled, paused, permanent, error).",
    ["kind", "outcome"],
)
DELIVERIES_RECORDED = Counter(
    "bulletin_deliveries_recorded_total",
    "Delivery outcomes written by the send pipeline (sent, failed, retrying, dead, deferred).",
    ["kind", "outcome"],
)
TASK_SECONDS = Histogram(
    "bulletin_task_duration_seconds",
    "Celery task run time, by task.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


def exposition(extra_collectors=()) -> bytes:
    """The text a scrape gets: every process's recorded metrics plus `extra_collectors`."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY if not extra_collectors else _merged(REGISTRY)
    for collector in extra_collectors:
        registry.register(collector)
    return generate_latest(registry)


def _merged(default):
    """A fresh registry reading the default one (so extra collectors never stay registered)."""
    registry = CollectorRegistry()

    class Default:
        def collect(self):
            return default.collect()

    registry.register(Default())
    return registry
