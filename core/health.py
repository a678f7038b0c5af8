"""Liveness and readiness probes.

/health answers as long as the process serves requests. /health/ready checks what a request
needs: the database, the Celery broker and Redis (when configured), each with a short
timeout, and the worker heartbeat (none at all after a start-up grace period is a failure).
Any failing check makes it 503 and names itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.broker import is_embedded_broker

HEARTBEAT_CACHE_KEY = "bulletin:worker-heartbeat"
# The start-up grace period for the first worker heartbeat counts from here.
PROCESS_STARTED_AT = time.time()
_TIMEOUT_SECONDS = 2


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_broker() -> dict:
    from config.celery import app

    url, options = settings.CELERY_BROKER_URL, settings.CELERY_BROKER_TRANSPORT_OPTIONS
    with app.connection_for_write(url, transport_options=options) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=_TIMEOUT_SECONDS)
    return {"ok": True, "transport": "filesystem (embedded)" if is_embedded_broker() else conn.transport_cls}


def check_redis() -> dict:
    if not settings.REDIS_URL:
        return {"ok": True, "skipped": "REDIS_URL is not set; the local file cache is used"}
    from core.redis import get_redis

    get_redis().ping()
    return {"ok": True}


def check_worker(*, now: float | None = None) -> dict:
    """Fresh heartbeat: ok. None recorded yet: ok during WORKER_HEARTBEAT_GRACE_SECONDS after this
    process started (beat sends one a minute), then not ready: a deployment whose workers never
    ran is not ready, whatever HEALTH_REQUIRE_WORKER says. A stale one fails only with
    HEALTH_REQUIRE_WORKER (web can serve a while without workers)."""
    now = time.time() if now is None else now
    last = cache.get(HEARTBEAT_CACHE_KEY)
    age = None if last is None else round(now - last, 1)
    result: dict = {"ok": True, "heartbeat_age_seconds": age}
    if age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE:
        return result
    if age is not None:
        result["ok"] = not settings.HEALTH_REQUIRE_WORKER
        result["warning"] = "no recent worker heartbeat (is a Celery worker and beat running?)"
        return result
    waited = now - PROCESS_STARTED_AT
    if waited < settings.WORKER_HEARTBEAT_GRACE_SECONDS:
        result["warning"] = (
            f"no worker heartbeat yet; not ready in {int(settings.WORKER_HEARTBEAT_GRACE_SECONDS - waited)} s"
        )
    else:
        result["ok"] = False
        result["error"] = "no worker heartbeat recorded (is a Celery worker and beat running?)"
    return result


CHECKS: dict[str, Callable[[], dict]] = {
    "database": check_database,
    "broker": check_broker,
    "redis": check_redis,
    "worker": check_worker,
}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a probe reports failures, it does not raise them
            results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return results


@never_cache
@require_GET
def liveness(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readiness(request):
    checks = run_checks()
    failed = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "fail" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)
