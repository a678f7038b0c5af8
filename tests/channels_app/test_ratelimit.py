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
