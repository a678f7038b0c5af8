from __future__ import annotations

import time

from django.core.cache import cache

from core.health import HEARTBEAT_CACHE_KEY


def worker_heartbeat_record() -> float:
    now = time.time()
    cache.set(HEARTBEAT_CACHE_KEY, now, timeout=24 * 3600)
    return now
