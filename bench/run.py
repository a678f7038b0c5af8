"""Benchmark runner: `make bench` runs every benchmark, `make bench NAME=<name>` one of them.

A benchmark is a module `bench/<name>_bench.py` that, run with `python -m`, does its work and
prints one JSON object on its last line: {"name": ..., "value": <headline>, "unit": ..., ...}. Each runs
in its own process, against PostgreSQL and Redis: each uses a database of its own on the local
services (bench.common.use_services; BENCH_POSTGRES / BENCH_REDIS name other servers), so
one benchmark's state never leaks into the next.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def available() -> list[str]:
    return sorted(p.stem.removesuffix("_bench") for p in BENCH_DIR.glob("*_bench.py"))


def run_one(name: str) -> int:
    # Each benchmark chooses its settings, database and Redis database (bench.common.use_services).
    return subprocess.call([sys.executable, "-m", f"bench.{name}_bench"], cwd=ROOT)


def main(argv: list[str]) -> int:
    names = available()
    if argv and argv[0]:
        if argv[0] not in names:
            print(json.dumps({"error": f"unknown benchmark {argv[0]!r}", "available": names}))
            return 2
        return run_one(argv[0])
    if not names:
        print(json.dumps({"name": "all", "value": 0, "unit": "benchmarks", "benchmarks": []}))
        return 0
    failures = [name for name in names if run_one(name) != 0]
    print(
        json.dumps(
            {
                "name": "all",
                "value": len(names) - len(failures),
                "unit": "benchmarks passed",
                "benchmarks": names,
                "failed": failures,
            }
        )
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
