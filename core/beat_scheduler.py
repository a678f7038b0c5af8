"""celery-beat that schedules from exactly one process, however many are started.

Two beats on the same schedule would send every periodic task twice. Each beat here holds a
lease (`bulletin:beat:leader`, BEAT_LEADER_TTL_SECONDS) in Redis, or in the shared cache on
the embedded default, renewed on every tick; only the holder applies due entries. A second
beat started by mistake, or a standby kept on purpose, waits and takes over within the lease
once the leader stops renewing it.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

from django.conf import settings
from django.core.cache import cache
from django_celery_beat.schedulers import DatabaseScheduler

logger = logging.getLogger(__name__)

LEADER_KEY = "bulletin:beat:leader"
_HOLD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class SingleBeatScheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.leading: bool | None = None  # unknown until the first tick
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        leading = self._hold_lease()
        if leading != self.leading:
            logger.warning("beat %s is %s", self.identity, "now the leader" if leading else "standing by")
            self.leading = leading
        if not leading:
            return min(self.max_interval, settings.BEAT_LEADER_TTL_SECONDS / 3)
        return super().tick(*args, **kwargs)

    def _hold_lease(self) -> bool:
        ttl_ms = int(settings.BEAT_LEADER_TTL_SECONDS * 1000)
        try:
            if settings.REDIS_URL:
                from core.redis import get_redis

                return bool(get_redis().eval(_HOLD, 1, LEADER_KEY, self.identity, ttl_ms))
            if cache.add(LEADER_KEY, self.identity, timeout=settings.BEAT_LEADER_TTL_SECONDS):
                return True
            if cache.get(LEADER_KEY) == self.identity:
                cache.set(LEADER_KEY, self.identity, timeout=settings.BEAT_LEADER_TTL_SECONDS)
                return True
            return False
        except Exception as exc:  # cannot tell who leads: schedule nothing rather than twice
            logger.warning("beat lease unavailable: %s", exc)
            return False
