"""Rate limiters shaped like the providers' own: a token bucket (SES, Slack) and a fixed window (Discord)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


class TokenBucket:
    """`rate` tokens a second, holding at most `burst` (default: one second's worth).

    A request is let through while at least one token is left and then takes all it costs,
    which may leave the bucket in debt. That is how SES treats a message to many recipients:
    "if your send rate quota is one message per second, and you send a message to five
    recipients at once, Amazon SES lets you do that. For the next five seconds, though,
    Amazon will return errors for all send attempts" (SES blog, quoted in
    https://github.com/django-ses/django-ses/issues/59). With a cost of 1 it is a plain
    token bucket, as Slack's per-channel limit is.
    """

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(rate, 1.0)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def take(self, cost: float = 1.0) -> float:
        """0 when let through (and charged), else the seconds until a token is back."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return (1 - self.tokens) / self.rate
        self.tokens -= cost
        return 0.0


class FixedWindow:
    """`limit` requests per `window` seconds, reported the way Discord's X-RateLimit-* headers do."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.started = clock()
        self.used = 0

    def take(self) -> float:
        """0 when let through, else the seconds until the window resets."""
        now = self.clock()
        if now - self.started >= self.window:
            self.started, self.used = now, 0
        if self.used >= self.limit:
            return self.reset_after()
        self.used += 1
        return 0.0

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def reset_after(self) -> float:
        return max(0.0, self.started + self.window - self.clock())


def parse_rate_limit(value: Any) -> tuple[int, float] | None:
    """ "5/2" or {"limit": 5, "window": 2} or None."""
    if not value:
        return None
    if isinstance(value, str):
        limit, _, window = value.partition("/")
        return int(limit), float(window or 1)
    return int(value["limit"]), float(value.get("window", 1))


class WindowsPerKey:
    """A fixed window per key (a Discord webhook, a Teams flow), as providers that limit each
    of them apart count: the `rate_limit` option of those emulators ("5/2": 5 requests per 2 s
    for each key; None: unlimited)."""

    def __init__(self, value: Any = None) -> None:
        self.configure(value)

    def configure(self, value: Any) -> None:
        self.rate_limit = parse_rate_limit(value)
        self.windows: dict[str, FixedWindow] = {}

    def window(self, key: str) -> FixedWindow | None:
        if self.rate_limit is None:
            return None
        if key not in self.windows:
            self.windows[key] = FixedWindow(*self.rate_limit)
        return self.windows[key]

    def as_option(self) -> dict[str, float] | None:
        return {"limit": self.rate_limit[0], "window": self.rate_limit[1]} if self.rate_limit else None


def whole_seconds(seconds: float) -> int:
    """Retry-After as an integer number of seconds (RFC 9110 §10.2.3), never 0 while limited."""
    return max(1, math.ceil(seconds))
