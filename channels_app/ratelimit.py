"""A per-channel rate limit shared by every worker process and machine: GCRA in Redis.

Each caller reserves the units it is about to send (recipients, for SES; messages elsewhere)
and is told how long to wait before sending them, so concurrent workers interleave at the
configured rate instead of bursting and being throttled. The clock is Redis's (TIME), so
workers on machines with skewed clocks agree. https://brandur.org/rate-limiting (GCRA)

Without Redis (the embedded default) the same algorithm runs per process, which holds the
rate for one worker process only; that is documented for `make run`.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass

from django.conf import settings

_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = 1 / tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local units = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + units * interval
local wait = new_tat - burst * interval - now
if wait < 0 then wait = 0 end
if wait > max_wait then return tostring(-wait) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return tostring(wait)
"""


@dataclass(frozen=True)
class Reservation:
    wait: float  # seconds to wait before sending
    granted: bool  # False: the wait would exceed max_wait, nothing was reserved


class _LocalBuckets:
    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, rate: float, burst: float, units: int, max_wait: float) -> float:
        with self._lock:
            now = time.monotonic()
            tat = max(self._tat.get(key, now), now)
            new_tat = tat + units / rate
            wait = max(0.0, new_tat - burst / rate - now)
            if wait > max_wait:
                return -wait
            self._tat[key] = new_tat
            return wait


_local = _LocalBuckets()


def reserve(
    *, key: str, rate_per_second: float, units: int, burst: float | None = None, max_wait: float | None = None
) -> Reservation:
    """Reserve `units` at `rate_per_second`; `burst` defaults to one second's worth."""
    burst = max(burst if burst is not None else rate_per_second, units)
    max_wait = settings.RATE_LIMIT_MAX_WAIT_SECONDS if max_wait is None else max_wait
    if settings.REDIS_URL:
        wait = float(_redis_script()(keys=[f"bulletin:rate:{key}"], args=[rate_per_second, burst, units, max_wait]))
    else:
        wait = _local.reserve(key, rate_per_second, burst, units, max_wait)
    return Reservation(wait=abs(wait), granted=wait >= 0)


def _redis_script():
    from core.redis import get_redis

    return _script_on(get_redis())


@functools.cache
def _script_on(client):
    return client.register_script(_RESERVE)
