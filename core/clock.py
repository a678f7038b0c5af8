"""The clock of every timing rule (delivery leases, circuit cooldowns, backoff, the sweeper).

Code asks `clock.now()` / `clock.time()` / `clock.sleep()` instead of the standard library, so
a test moves time forward with `clock.advance(seconds)` rather than sleeping and hoping. In
production this is the wall clock; nothing but tests ever advances it.
"""

from __future__ import annotations

import threading
import time as _time
from datetime import UTC, datetime


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Epoch seconds."""
        return _time.time() + self._offset

    def now(self) -> datetime:
        """An aware UTC datetime (what `django.utils.timezone.now()` returns, moved like `time`)."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            _time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Tests only: everything that asks this clock is `seconds` later from now on."""
        with self._lock:
            self._offset += seconds

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0


clock = Clock()
