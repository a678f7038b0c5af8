"""Where the fan-out's time goes: py-spy samples every worker process during a send.

    python -m bench.profile_fanout [--subscribers 50000] [--latency-ms 20]

Prints the share of worker CPU samples per stage of the pipeline (leaf frames attributed to
the first stage found walking up the stack) and the top functions by own time; writes the
collapsed stacks (flamegraph input) next to the logs. Not a benchmark: no JSON headline.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import sys
import tempfile
from pathlib import Path

# Importing fanout_bench chooses its database and Redis database (the same workload's).
from bench import common, fanout_bench

# Stage of a stack: the first of these substrings met from the leaf upwards.
STAGES = [
    ("signing tokens (links, unsubscribe, tracking)", ("signing.py", "tokens.py", "links.py")),
    ("rendering (variables, substitution)", ("rendering.py",)),
    ("SigV4 signing (botocore)", ("botocore/",)),
    ("SES request body (ses_bulk: entries, JSON; anymail for other ESPs)", ("ses_bulk.py", "anymail/")),
    ("HTTP to the provider (urllib3, ssl, socket)", ("urllib3/", "http/client.py", "socket.py")),
    ("database (claim, load, record)", ("django/db/", "psycopg/", "deliveries.py")),
    ("rate limit and circuit (Redis, cache)", ("ratelimit.py", "circuit.py", "redis/", "django/core/cache")),
    ("celery and kombu (broker, task plumbing)", ("celery/", "kombu/", "billiard/")),
    ("thread pool waits", ("concurrent/futures", "threading.py")),
]


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in STAGES:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def summarize(collapsed: Path) -> tuple[dict[str, float], list[tuple[str, float]]]:
    stages: collections.Counter = collections.Counter()
    leaves: collections.Counter = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        n = int(count)
        total += n
        stages[stage_of(frames)] += n
        leaves[frames[-1]] += n
    share = {name: round(100 * n / total, 1) for name, n in stages.most_common()}
    top = [(name, round(100 * n / total, 1)) for name, n in leaves.most_common(15)]
    return share, top


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=50_000)
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    common.django_setup()
    common.ensure_database()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    emulator, endpoint = common.ses_emulator_start(latency_ms=args.latency_ms, rate=None)
    try:
        topic_id = fanout_bench.prepare(args.subscribers, endpoint=endpoint, rate=100_000)
        workers = fanout_bench.start_workers(1, 2, log_dir)
        collapsed = log_dir / "fanout.collapsed"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(workers[0][0].pid),
                "--subprocesses",
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            result = fanout_bench.run_send(topic_id, args.subscribers, timeout=900)
        finally:
            spy.send_signal(2)
            spy.wait(timeout=60)
            for proc, _ in workers:
                common.stop(proc)
    finally:
        common.stop(emulator)
    share, top = summarize(collapsed)
    print(f"{args.subscribers} emails in {result['seconds']:.1f}s = {args.subscribers / result['seconds']:.0f}/s")
    print("Worker CPU samples by stage (%):")
    for name, pct in share.items():
        print(f"  {pct:5.1f}  {name}")
    print("Top leaf functions (%):")
    for name, pct in top:
        print(f"  {pct:5.1f}  {name}")
    print(f"collapsed stacks: {collapsed}")


if __name__ == "__main__":
    main()
