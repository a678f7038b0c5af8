"""Benchmarks: production behaviour (DEBUG off, real PostgreSQL/Redis) without HTTPS
redirects or secrets from the environment, so `make bench` runs on a fresh clone."""

import os

os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "qCj3rSvbHD6WJ2lQ3vTCHrk4ksx2cVcRtkBZCUX6hKc=")
os.environ.setdefault("ALLOWED_HOSTS", "*")

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY")
DEV_SINKS_ENABLED = False
# The emulated providers listen on loopback.
OUTBOUND_ALLOW_PRIVATE_TARGETS = True
LOGGING["root"]["level"] = env.str("LOG_LEVEL", default="WARNING")  # noqa: F405
# The site plus bench-only baseline views (an empty view, naive one-INSERT-per-hit tracking).
ROOT_URLCONF = "bench.urls"
# Load generators send thousands of requests a minute as one user: the throttle still runs (one
# INCR per request, as in production) but must not answer 429s that would be timed as responses.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {  # noqa: F405
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],  # noqa: F405
    "user": env.str("THROTTLE_USER", default="10000000/minute"),
}
# Publishing in the benchmarks measures the send, not the pre-send checks (make bench NAME=checks does).
PRESEND_CHECKS_GATE = False
