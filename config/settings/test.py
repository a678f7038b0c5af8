"""Test settings: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, else SQLite.

Tasks run eagerly by default; tests that depend on the broker start a real worker and turn
eager mode off for themselves.
"""

import os
import tempfile
from pathlib import Path

# Every test run keeps its files (outbox, embedded broker, sinks) in a fresh folder.
os.environ.setdefault("BULLETIN_VAR_DIR", tempfile.mkdtemp(prefix="bulletin-test-"))

from .base import *  # noqa: E402, F403
from .base import env  # noqa: E402

DEBUG = False
SECRET_KEY = "test-secret-key-not-for-production-0123456789abcdefghijklmnop"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
# Emulated providers listen on loopback.
OUTBOUND_ALLOW_PRIVATE_TARGETS = True
FIELD_ENCRYPTION_KEYS = ["qCj3rSvbHD6WJ2lQ3vTCHrk4ksx2cVcRtkBZCUX6hKc="]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
if not REDIS_URL:  # noqa: F405
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"public": "1000/minute", "user": "100000/minute"}  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Publishing runs no pre-send checks (spamd, link fetches) in tests unless a test turns the
# gate on (tests/publishing/test_checks_gate.py does).
PRESEND_CHECKS_GATE = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not Django's shared in-memory test database: threads then lock as web, worker and
    # beat do (BEGIN IMMEDIATE, busy timeout) instead of failing with "database table is locked".
    DATABASES["default"]["TEST"] = {"NAME": str(Path(os.environ["BULLETIN_VAR_DIR"]) / "test.sqlite3")}  # noqa: F405
