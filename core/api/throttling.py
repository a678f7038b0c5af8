"""Rate limits for API users: a fixed window counted with an atomic increment.

DRF's UserRateThrottle keeps every request's timestamp in a list stored in the cache and
rewrites it on each request; at thousands of requests a minute per client that list is the
most expensive thing an API request does. A counter per (user, window) is incremented instead;
the key is DRF's (the user's id, or the client address for anonymous requests).
"""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import UserRateThrottle


class UserWindowThrottle(UserRateThrottle):
    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        window = int(time.time() // self.duration)
        window_key = f"{key}:{window}"
        timeout = int(self.duration) + 1
        try:
            count = cache.incr(window_key)  # the usual case: the window's counter exists
        except ValueError:  # the window's first request (or a race with another one)
            count = 1 if cache.add(window_key, 1, timeout=timeout) else cache.incr(window_key)
        self._window_end = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self):
        return max(0.0, getattr(self, "_window_end", 0) - time.time())
