"""Bulletin's fan-out beside django-post-office and django-newsletter, in one command.

The same workload for all (one personalized email per subscriber, the same template size, the
same SES v2 emulator adding 20 ms per request, the same PostgreSQL and Redis), alternating
runs: Bulletin, then each peer with its best honest configuration, twice. Each peer is tried
through anymail's SES backend (to the emulator) and through Django's SMTP backend (to a local
aiosmtpd sink adding the same 20 ms), and its faster way is kept. The peers are installed
into their own virtualenv (var/bench/peers-venv) by this benchmark; none of their code is in
the project.

Bulletin sends 100,000 emails per run. The peers are measured at steady state on fewer emails
(their rate does not depend on the audience size; 100,000 would take django-newsletter hours).

    value   Bulletin's emails/s divided by the best peer's emails/s (target: 40)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

# Importing fanout_bench chooses its database and Redis database (the same workload's).
from bench import common, fanout_bench

PEERS_DIR = common.ROOT / "bench" / "peers"
VENV = common.ROOT / "var" / "bench" / "peers-venv"


def ensure_peers_venv() -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements"
    wanted = (PEERS_DIR / "requirements.txt").read_text()
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(PEERS_DIR / "requirements.txt")], check=True
        )
        stamp.write_text(wanted)
    return python


def run_peer(python: Path, peer: str, backend: str, n: int, endpoint: str) -> dict:
    env = {
        **os.environ,
        "PEERS_DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/bulletin_bench_peers",
        "PEERS_REDIS_URL": os.environ["REDIS_URL"],
        "PYTHONWARNINGS": "ignore",
    }
    out = subprocess.run(
        [
            str(python),
            "run.py",
            peer,
            "--n",
            str(n),
            "--backend",
            backend,
            "--ses-endpoint",
            endpoint,
            "--latency-ms",
            "20",
            "--timeout",
            "900",
        ],
        cwd=PEERS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        raise RuntimeError(f"{peer}/{backend} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--bulletin-emails", type=int, default=100_000)
    parser.add_argument("--postoffice-emails", type=int, default=5_000)
    parser.add_argument("--newsletter-emails", type=int, default=300)
    args = parser.parse_args()

    python = ensure_peers_venv()
    common.django_setup()
    common.ensure_database()
    import tempfile

    log_dir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    results: dict[str, list[dict]] = {}
    plan = [("postoffice", args.postoffice_emails), ("newsletter", args.newsletter_emails)]
    for round_ in range(args.rounds):
        run = fanout_bench.one_run(
            args.bulletin_emails,
            latency_ms=20,
            emulator_rate=None,
            channel_rate=100_000,
            workers=1,
            concurrency=2,
            log_dir=log_dir,
        )
        results.setdefault("bulletin", []).append(run)
        print(
            json.dumps({"round": round_, "system": "bulletin", "emails_per_second": run["emails_per_second"]}),
            flush=True,
        )
        for peer, n in plan:
            for backend in ("anymail", "smtp"):
                emulator, endpoint = common.ses_emulator_start(latency_ms=20, rate=None)
                try:
                    result = run_peer(python, peer, backend, n, endpoint)
                finally:
                    common.stop(emulator)
                results.setdefault(f"{peer}/{backend}", []).append(result)
                print(json.dumps({"round": round_, "system": f"{peer}/{backend}", **result}), flush=True)

    def median_rate(runs):
        return statistics.median(r["emails_per_second"] for r in runs)

    summary = {
        name: {"emails_per_second": round(median_rate(runs), 1), "runs": len(runs)} for name, runs in results.items()
    }
    for name, runs in results.items():
        last = runs[-1]
        summary[name].update(
            {
                "seconds": last["seconds"],
                "peak_rss_mb_per_worker_process": last["peak_rss_mb_per_worker_process"],
                "sql_statements_per_email": last["sql_statements_per_email"],
                "db_rows_per_email": last.get(
                    "db_rows_written_per_email",
                    round(last.get("db_rows_inserted_per_email", 0) + last.get("db_rows_updated_per_email", 0), 3),
                ),
                "emails": last["emails"],
            }
        )
    peers = {name: s for name, s in summary.items() if name != "bulletin"}
    best_name = max(peers, key=lambda name: peers[name]["emails_per_second"])
    best_per_peer = {
        peer: max((n for n in peers if n.startswith(peer)), key=lambda n: peers[n]["emails_per_second"])
        for peer in ("postoffice", "newsletter")
    }
    bulletin_rate = summary["bulletin"]["emails_per_second"]
    common.report(
        {
            "name": "peers",
            "value": round(bulletin_rate / peers[best_name]["emails_per_second"], 1),
            "unit": "x the best peer's emails/s",
            "bulletin_emails_per_second": bulletin_rate,
            "best_peer": best_name,
            "best_peer_emails_per_second": peers[best_name]["emails_per_second"],
            "ratio_to_newsletter": round(bulletin_rate / peers[best_per_peer["newsletter"]]["emails_per_second"], 1),
            "kept_configuration": best_per_peer,
            "systems": summary,
        }
    )


if __name__ == "__main__":
    main()
