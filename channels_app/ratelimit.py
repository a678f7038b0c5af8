"""Provider rate limits shared by every worker process and machine: GCRA in Redis.

Each caller reserves the units it is about to send and is told how long to wait before sending
them, so concurrent workers interleave at the configured rate instead of bursting and being
throttled. The clock is Redis's (TIME), so workers on machines with skewed clocks agree.
https://brandur.org/rate-limiting (GCRA)

Two levels, as providers state them (an adapter's `Limits`): a ceiling for the whole account
(a Slack workspace, an SES account and region, a Discord or Teams webhook) and, where the
provider also limits each destination apart, a rate per target (a Slack conversation: about
one message a second each). One call reserves a whole chunk on both, atomically. A target that
is full for longer than RATE_LIMIT_TARGET_MAX_WAIT_SECONDS is not waited for: it comes back in
`deferred` with the seconds until it has room, takes no capacity, and the other targets of the
chunk go ahead, so messages to many conversations go out in parallel while each conversation
keeps its own pace.

Without Redis (the embedded default) the same algorithm runs per process, which holds the
rate for one worker process only; that is documented for `make run`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from channels_app.adapters.base import ChannelAdapter, RenderedMessage
    from channels_app.models import Channel

# KEYS[1] the ceiling, KEYS[2..] targets. ARGV: rate, burst, max_wait, target rate, target burst,
# target max wait, units without a target, then each target's units. Returns the wait, then per
# target "" (reserved) or the seconds until it has room (deferred); a negative wait: refused.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local trate, tburst, tmax = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local units = tonumber(ARGV[7])
local out, tats, wait = {''}, {}, 0
for i = 2, #KEYS do
  local u = tonumber(ARGV[6 + i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or now), now)
  local w = math.max(tat + u / trate - tburst / trate - now, 0)
  if w > tmax then
    out[i] = tostring(w)
  else
    out[i] = ''
    tats[i] = tat
    units = units + u
    wait = math.max(wait, w)
  end
end
if units > 0 then
  local eburst = math.max(burst, units)
  local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or now), now)
  local new_tat = tat + units / rate
  local w = math.max(new_tat - eburst / rate - now, 0)
  if w > max_wait then return {tostring(-w)} end
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
  wait = math.max(wait, w)
end
for i, tat in pairs(tats) do
  -- the target's next message is spaced from when this one really goes: after the whole wait
  local new_tat = math.max(tat + tonumber(ARGV[6 + i]) / trate, now + wait + tonumber(ARGV[6 + i]) / trate)
  redis.call('SET', KEYS[i], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
end
out[1] = tostring(wait)
return out
"""


@dataclass(frozen=True)
class Reservation:
    wait: float  # seconds to wait before sending what was reserved
    granted: bool  # False: the ceiling's wait would exceed max_wait, nothing was reserved
    deferred: Mapping[str, float] = field(default_factory=dict)  # full targets: seconds until each has room


class _LocalBuckets:
    """The same algorithm in one process (no Redis), on the monotonic clock."""

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, keys: list[str], args: list[float]) -> list[str]:
        rate, burst, max_wait, trate, tburst, tmax, units = args[:7]
        with self._lock:
            now = time.monotonic()
            out, tats, wait = [""], {}, 0.0
            for i, key in enumerate(keys[1:], start=1):
                tat = max(self._tat.get(key, now), now)
                w = max(tat + args[6 + i] / trate - tburst / trate - now, 0.0)
                if w > tmax:
                    out.append(str(w))
                    continue
                out.append("")
                tats[i], units, wait = tat, units + args[6 + i], max(wait, w)
            if units > 0:
                tat = max(self._tat.get(keys[0], now), now)
                w = max(tat + units / rate - max(burst, units) / rate - now, 0.0)
                if w > max_wait:
                    return [str(-w)]
                self._tat[keys[0]], wait = tat + units / rate, max(wait, w)
            for i, tat in tats.items():
                self._tat[keys[i]] = max(tat, now + wait) + args[6 + i] / trate
            out[0] = str(wait)
            return out


_local = _LocalBuckets()


def reserve(
    *,
    key: str,
    rate_per_second: float,
    units: int = 0,
    burst: float | None = None,
    max_wait: float | None = None,
    targets: Mapping[str, int] | None = None,
    target_rate: float = 1.0,
    target_burst: float = 1.0,
    target_max_wait: float | None = None,
) -> Reservation:
    """Reserve `units` (plus each target's units) at `rate_per_second` on `key`, and each
    target's units at `target_rate`; `burst` defaults to one second's worth."""
    targets = dict(targets or {})
    args = [
        rate_per_second,
        burst if burst is not None else rate_per_second,
        settings.RATE_LIMIT_MAX_WAIT_SECONDS if max_wait is None else max_wait,
        target_rate,
        target_burst,
        settings.RATE_LIMIT_TARGET_MAX_WAIT_SECONDS if target_max_wait is None else target_max_wait,
        units,
        *targets.values(),
    ]
    keys = [f"bulletin:rate:{name}" for name in (key, *targets)]
    if settings.REDIS_URL:
        out = [v.decode() if isinstance(v, bytes) else str(v) for v in _redis_script()(keys=keys, args=args)]
    else:
        out = _local.reserve(keys, [float(a) for a in args])
    wait = float(out[0])
    deferred = {name: float(v) for name, v in zip(targets, out[1:], strict=False) if v}
    return Reservation(wait=abs(wait), granted=wait >= 0, deferred=deferred)


def _redis_script():
    from core.redis import get_redis

    return _script_on(get_redis())


@functools.cache
def _script_on(client):
    return client.register_script(_RESERVE)


@dataclass(frozen=True)
class ChannelLimiter:
    """One channel's limits: its adapter's `Limits`, with the channel's own rates where it sets
    them, on the keys every channel of the same account shares."""

    key: str
    rate: float
    burst: float | None
    target_rate: float | None
    target_burst: float
    target_of: Callable[[RenderedMessage], str]

    @classmethod
    def for_channel(cls, channel: Channel, adapter: ChannelAdapter) -> ChannelLimiter:
        limits, account = adapter.limits, adapter.account_key()
        return cls(
            key=f"account:{channel.kind}:{account}" if account else f"channel:{channel.pk}",
            rate=channel.rate_limit_per_second or limits.per_second,
            # An operator's own rate gets one second's worth of burst; the provider's, its own.
            burst=None if channel.rate_limit_per_second else limits.burst,
            target_rate=channel.target_rate_per_second or limits.per_target_per_second,
            target_burst=limits.per_target_burst,
            target_of=adapter.target_key,
        )

    @property
    def burst_units(self) -> float:
        """What may go at once after a wait: the burst, by default one second's worth."""
        return self.burst if self.burst is not None else self.rate

    def target(self, message: RenderedMessage) -> str:
        return f"{self.key}:to:{self.target_of(message)}"

    def reserve(self, chunk: Sequence[RenderedMessage]) -> Reservation:
        """One call for the whole chunk, whatever its targets."""
        if not self.target_rate:
            return reserve(key=self.key, rate_per_second=self.rate, units=len(chunk), burst=self.burst)
        return reserve(
            key=self.key,
            rate_per_second=self.rate,
            burst=self.burst,
            targets=Counter(self.target(m) for m in chunk),
            target_rate=self.target_rate,
            target_burst=self.target_burst,
        )
