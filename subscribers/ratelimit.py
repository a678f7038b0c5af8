"""Fixed-window counters for the public forms (per IP, per address).

Redis when REDIS_URL is set (shared by every web process on every machine), else Django's
cache. If Redis is unreachable the limiter lets the request through and logs it: a form that
cannot be used is worse than a briefly unlimited one (the honeypot still applies).
"""

from __future__ import annotations

import hashlib
import logging
import time

import redis
from django.conf import settings
from django.core.cache import cache

from core.redis import get_redis

logger = logging.getLogger(__name__)

KEY_PREFIX = "bulletin:ratelimit:"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """ "20/hour" -> (20, 3600). Periods: second, minute, hour, day (first letter is enough)."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def rate_limit_exceeded(*, scope: str, ident: str, rate: str) -> bool:
    """Count one attempt of `ident` in `scope`; True once it is over `rate`."""
    limit, window = rate_parse(rate)
    # Hash the identity: keys must not hold addresses in clear (and stay short).
    digest = hashlib.sha256(ident.encode()).hexdigest()[:32]
    key = f"{KEY_PREFIX}{scope}:{digest}:{int(time.time()) // window}"
    try:
        count = _incr_redis(key, window) if settings.REDIS_URL else _incr_cache(key, window)
    except (redis.RedisError, OSError):
        logger.warning("rate limiter unavailable for scope %s; allowing the request", scope)
        return False
    return count > limit


def _incr_redis(key: str, window: int) -> int:
    pipe = get_redis().pipeline()
    pipe.incr(key)
    pipe.expire(key, window + 1)
    count, _ = pipe.execute()
    return int(count)


def _incr_cache(key: str, window: int) -> int:
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=window + 1)
        return 1


def rate_limits_reset() -> None:
    """Forget every counter (tests, or an operator unblocking a form)."""
    if settings.REDIS_URL:
        client = get_redis()
        for key in client.scan_iter(match=f"{KEY_PREFIX}*", count=500):
            client.delete(key)
    else:
        cache.clear()
