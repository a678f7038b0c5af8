"""Rate limits for API users: a fixed window counted with one atomic increment.

DRF's UserRateThrottle keeps every request's timestamp in a list stored in the cache and
rewrites it on each request; at thousands of requests a minute per client that list is the
most expensive thing an API request does. A counter per (user, window) costs one INCR.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle


class UserWindowThrottle(SimpleRateThrottle):
    scope = "user"

    def get_cache_key(self, request, view):
        user = request.user
        ident = user.pk if user and user.is_authenticated else self.get_ident(request)
        return f"throttle:{self.scope}:{ident}"

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        window = int(time.time() // self.duration)
        window_key = f"{key}:{window}"
        cache.add(window_key, 0, timeout=int(self.duration) + 1)
        try:
            count = cache.incr(window_key)
        except ValueError:  # expired between add and incr
            cache.set(window_key, 1, timeout=int(self.duration) + 1)
            count = 1
        self._window_end = (window + 1) * self.duration
        return count <= self.num_requests

    def wait(self):
        return max(0.0, getattr(self, "_window_end", 0) - time.time())
