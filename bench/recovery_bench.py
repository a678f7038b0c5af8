"""Recovery benchmark: a 10,000-recipient send against the SES emulator (20 ms per call), once per
fault, with one Celery worker, celery-beat and a Redis of the benchmark's own:

    worker_sigkill       the worker is SIGKILLed at ~40% and a new one started
    storm_429            30 s of 429 TooManyRequests on every call
    storm_500_half       30 s of 500 InternalFailure on every other call
    redis_down           the Redis (broker, rate limits, circuits) is stopped for 10 s, back empty
    pg_connections_cut   the worker's PostgreSQL sessions terminated every 0.5 s for 5 s

    make bench NAME=recovery     (BENCH_RECOVERY_RECIPIENTS, BENCH_RECOVERY_SCENARIOS=a,b to change)

Headline: the worst seconds from starting the send to its completion (target < 120 s). Per
scenario: lost, duplicates and stranded (rows still `sending` 10 s after the fault ended that
no live batch renews); "storm" sums duplicates and stranded over the scenarios where the worker
stays alive (target 0 and 0). Method and the meaning of each figure: bench/recovery.py.
Own database (bulletin_bench_recovery); the Redis is a redis-server started on a free port.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bench import common

common.use_services(database="bulletin_bench_recovery", redis_db=9)

RECIPIENTS = int(os.environ.get("BENCH_RECOVERY_RECIPIENTS", "10000"))
LOGS = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/bulletin-bench-recovery"))


def _scenarios():
    from bench import recovery

    every = {
        "worker_sigkill": recovery.sigkill(),
        "storm_429": recovery.storm("storm_429", 30, status=429, code="TooManyRequestsException", every=1),
        "storm_500_half": recovery.storm("storm_500_half", 30, status=500, code="InternalFailure", every=2),
        "redis_down": recovery.redis_down(10),
        "pg_connections_cut": recovery.pg_connections_cut(5),
    }
    wanted = [n for n in os.environ.get("BENCH_RECOVERY_SCENARIOS", "").split(",") if n] or list(every)
    return [every[name] for name in wanted]


def main() -> int:
    from bench.common import django_setup, ensure_database, report, ses_emulator_start, stop

    django_setup()
    ensure_database()
    from bench import recovery
    from tests.faults import RedisServer

    ses, endpoint = ses_emulator_start(latency_ms=20)
    env = {"DATABASE_URL": os.environ["DATABASE_URL"], "DJANGO_SETTINGS_MODULE": "config.settings.bench"}
    results = []
    try:
        with RedisServer() as redis:
            harness = recovery.Harness(ses_endpoint=endpoint, redis=redis, env=env, log_dir=LOGS)
            try:
                for fault in _scenarios():
                    result = harness.run(fault, recipients=RECIPIENTS)
                    print(f"{result.name}: {result.as_dict()}", flush=True)
                    results.append(result)
            finally:
                harness.stop()
    finally:
        stop(ses)
    alive = [r for r in results if r.worker_alive]
    storm = {"duplicates": sum(r.duplicates for r in alive), "stranded": sum(r.stranded for r in alive)}
    worst = max(r.seconds for r in results)
    ok = worst < 120 and storm == {"duplicates": 0, "stranded": 0} and not any(r.lost for r in results)
    report(
        {
            "name": "recovery",
            "value": worst,
            "unit": "s",
            "target": "worst publish-to-complete < 120 s; storm duplicates 0 and stranded 0; nothing lost",
            "recipients": RECIPIENTS,
            "ses_latency_ms": 20,
            "scenarios": {r.name: {k: v for k, v in r.as_dict().items() if k != "name"} for r in results},
            "storm": storm,
            "lost": sum(r.lost for r in results),
            "ok": ok,
        }
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
