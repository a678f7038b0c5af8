"""The shared rate limit really holds across processes: measured on real Redis."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

from channels_app import ratelimit


def test_reservations_are_spaced_at_the_rate(redis_client):
    waits = [ratelimit.reserve(key="t1", rate_per_second=10, units=1, burst=1).wait for _ in range(5)]
    assert waits[0] == pytest.approx(0, abs=0.01)
    assert waits[4] == pytest.approx(0.4, abs=0.05)


def test_a_burst_goes_at_once_then_the_rate_applies(redis_client):
    first = ratelimit.reserve(key="t2", rate_per_second=100, units=50)
    second = ratelimit.reserve(key="t2", rate_per_second=100, units=50)
    third = ratelimit.reserve(key="t2", rate_per_second=100, units=50)
    assert (first.wait, second.wait) == (0, 0)  # one second's worth of burst
    assert third.wait == pytest.approx(0.5, abs=0.05)


def test_a_wait_beyond_the_limit_is_refused_and_reserves_nothing(redis_client):
    waits = [ratelimit.reserve(key="t3", rate_per_second=1, units=1, burst=1, max_wait=5) for _ in range(7)]
    assert [r.granted for r in waits] == [True] * 6 + [False]
    assert waits[-1].wait == pytest.approx(6, abs=0.1)
    again = ratelimit.reserve(key="t3", rate_per_second=1, units=1, burst=1, max_wait=10)
    assert again.wait == pytest.approx(6, abs=0.1), "the refused reservation took no capacity"


_WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    import django
    django.setup()
    from channels_app import ratelimit
    stamps = []
    end = time.time() + float(sys.argv[1])
    while time.time() < end:
        reservation = ratelimit.reserve(key="shared", rate_per_second=20, units=1, burst=1)
        time.sleep(reservation.wait)
        stamps.append(time.time())
    print(json.dumps(stamps))
    """
)


def test_two_processes_together_stay_at_the_rate(redis_client):
    """Two OS processes hammer the same bucket for 3 s; together they get ~20/s, not 40/s."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, "3"], cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [json.loads(p.communicate(timeout=60)[0].strip().splitlines()[-1]) for p in procs]
    stamps = sorted(s for out in outputs for s in out)
    assert all(outputs), "both processes sent"
    window = stamps[-1] - stamps[0]
    rate = (len(stamps) - 1) / window
    assert 16 <= rate <= 21, f"{len(stamps)} sends in {window:.2f}s = {rate:.1f}/s"


def test_without_redis_the_limit_holds_in_process(settings):
    settings.REDIS_URL = ""
    start = time.monotonic()
    for _ in range(6):
        time.sleep(ratelimit.reserve(key="local", rate_per_second=10, units=1, burst=1).wait)
    assert time.monotonic() - start == pytest.approx(0.5, abs=0.1)


@pytest.fixture(params=["redis", "in-process"])
def limiter_backend(request, redis_client, settings):
    """The same rules in Redis (shared by every worker) and in one process (the embedded default)."""
    if request.param == "in-process":
        settings.REDIS_URL = ""
    return request.param


def test_a_full_target_is_deferred_with_its_due_time_and_takes_no_capacity(limiter_backend):
    def chunk(*targets):
        named = {f"{limiter_backend}-{t}": 1 for t in targets}
        return ratelimit.reserve(key=f"c-{limiter_backend}", rate_per_second=100, targets=named, target_rate=1)

    a = f"{limiter_backend}-a"
    first = chunk("a", "b")
    second = chunk("a", "c")  # "a" just had its message: one a second

    assert (first.granted, first.deferred, first.wait) == (True, {}, 0)
    assert second.granted and set(second.deferred) == {a} and second.wait == 0
    assert second.deferred[a] == pytest.approx(1.0, abs=0.1)
    third = chunk("a")
    assert third.deferred[a] == pytest.approx(1.0, abs=0.1), "the deferred message reserved nothing"


def test_a_target_waits_inline_when_its_room_comes_soon_enough(limiter_backend):
    reserve = ratelimit.reserve
    args = {"key": f"s-{limiter_backend}", "rate_per_second": 100, "target_rate": 4, "target_max_wait": 0.5}
    target = {f"{limiter_backend}-t": 1}
    reserve(**args, targets=target)
    soon = reserve(**args, targets=target)
    assert (soon.deferred, soon.granted) == ({}, True)
    assert soon.wait == pytest.approx(0.25, abs=0.05)


def test_when_the_ceiling_refuses_no_target_is_reserved_either(limiter_backend):
    args = {"key": f"r-{limiter_backend}", "rate_per_second": 1, "burst": 1, "max_wait": 0.5, "target_rate": 1}
    y = {f"{limiter_backend}-y": 1}
    assert ratelimit.reserve(**args, targets={f"{limiter_backend}-x": 1}).granted
    refused = ratelimit.reserve(**args, targets=y)
    assert not refused.granted and refused.wait == pytest.approx(1.0, abs=0.1)
    again = ratelimit.reserve(**{**args, "key": f"r2-{limiter_backend}"}, targets=y)
    assert (again.wait, again.deferred) == (0, {}), "y took no capacity when the whole chunk was refused"
