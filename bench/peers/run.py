"""Run one peer's fan-out and print one JSON line. Executed by bench/peers_bench.py with the
peers' own virtualenv, from this folder:

    python run.py postoffice --n 3000 --backend anymail --ses-endpoint http://127.0.0.1:PORT
    python run.py newsletter --n 300 --backend smtp --latency-ms 20

The clock starts when the peer is asked to send (post-office: send_many; newsletter: the
submission is queued) and stops at the last message the provider accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


class SmtpSink:
    """A local SMTP server (aiosmtpd) that waits `latency_ms` per message, like the SES emulator."""

    def __init__(self, latency_ms: float):
        from aiosmtpd.controller import Controller

        self.accepted = 0
        self.last_at = 0.0
        self.latency = latency_ms / 1000
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                await asyncio.sleep(sink.latency)
                sink.accepted += len(envelope.rcpt_tos)
                sink.last_at = time.time()
                return "250 Message accepted"

        import socket

        with socket.socket() as probe:  # aiosmtpd's Controller needs a real port to check readiness
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


def ses_stats(endpoint: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{endpoint}/_emulator/stats", timeout=10) as response:  # noqa: S310
        return json.load(response)


def ensure_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(urlsplit(url)._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def pg_rows() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT tup_inserted + tup_updated FROM pg_stat_database WHERE datname = current_database()")
        return cursor.fetchone()[0]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def wait_for(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


class Accepted:
    """How many recipients the provider accepted so far, and when the last one was."""

    def __init__(self, backend: str, endpoint: str, sink: SmtpSink | None):
        self.backend, self.endpoint, self.sink = backend, endpoint, sink
        self.base = self.count()

    def count(self) -> int:
        return self.sink.accepted if self.sink else ses_stats(self.endpoint)["recipients_accepted"]

    def since_start(self) -> int:
        return self.count() - self.base


def run_postoffice(args, accepted: Accepted) -> dict:
    from post_office import mail
    from post_office.models import Email, EmailTemplate

    Email.objects.all().delete()
    template = EmailTemplate.objects.create(
        name=f"bench-{time.time_ns()}",
        subject=(HERE / "templates/peer_subject.txt").read_text(),
        content=(HERE / "templates/peer_message.txt").read_text(),
        html_content=(HERE / "templates/peer_message.html").read_text(),
    )
    worker = subprocess.Popen(
        [
            sys.executable,
            "peerworker.py",
            "-A",
            "peerproject",
            "worker",
            "-c",
            str(args.concurrency),
            "--pool",
            "prefork",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ],
        cwd=HERE,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(4)
    rows_before = pg_rows()
    started = time.time()
    for first in range(0, args.n, 1000):  # send_many's bulk_create, 1,000 per call as its docs suggest
        mail.send_many(
            [
                {
                    "sender": "Bulletin <news@bench.example.com>",
                    "recipients": [f"peer{i:07d}@bench.example.com"],
                    "template": template,
                    "render_on_delivery": True,
                    "context": {
                        "name": f"Reader {i}",
                        "unsubscribe_url": f"https://bench.example.com/u/{i}",
                        "preferences_url": f"https://bench.example.com/p/{i}",
                    },
                }
                for i in range(first, min(first + 1000, args.n))
            ]
        )
    done = wait_for(lambda: accepted.since_start() >= args.n, timeout=args.timeout)
    finished = time.time()
    rss = [peak_rss_mb(pid) for pid in [worker.pid, *children(worker.pid)]]
    worker.terminate()
    worker.wait(timeout=30)
    return _result(args, accepted, started, finished, done, rss, rows_before)


def run_newsletter(args, accepted: Accepted) -> dict:
    from django.contrib.sites.models import Site
    from django.utils import timezone
    from newsletter.models import Message, Newsletter, Submission, Subscription

    Submission.objects.all().delete()
    Message.objects.all().delete()
    Subscription.objects.all().delete()
    Newsletter.objects.all().delete()
    site = Site.objects.get_current()
    newsletter = Newsletter.objects.create(
        title="Bench", slug="bench", email="news@bench.example.com", sender="Bulletin"
    )
    newsletter.site.set([site])
    Subscription.objects.bulk_create(
        [
            Subscription(
                newsletter=newsletter,
                name_field=f"Reader {i}",
                email_field=f"peer{i:07d}@bench.example.com",
                subscribed=True,
            )
            for i in range(args.n)
        ],
        batch_size=1000,
    )
    message = Message.objects.create(title="Bench", slug="bench", newsletter=newsletter)
    rows_before = pg_rows()
    started = time.time()
    submission = Submission.from_message(message)
    submission.prepared = True
    submission.publish_date = timezone.now() - timezone.timedelta(seconds=1)
    submission.save()
    # Its documented sending path: the submit_newsletter command (run from cron or a worker).
    sender = subprocess.Popen(
        [sys.executable, "peerworker.py", "--newsletter"],
        cwd=HERE,
        env=os.environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    done = wait_for(lambda: accepted.since_start() >= args.n, timeout=args.timeout)
    finished = time.time()
    if not done:
        sender.terminate()
    _, _, usage = os.wait4(sender.pid, 0)  # its peak RSS, even after it exited
    return _result(args, accepted, started, finished, done, [round(usage.ru_maxrss / 1024, 1)], rows_before)


def _result(args, accepted: Accepted, started, finished, done, rss, rows_before) -> dict:
    import redis

    sent = accepted.since_start()
    # SMTP: the sink's time of the last message. SES: polled every 0.5 s (at most that late).
    seconds = (accepted.sink.last_at if accepted.sink and sent else finished) - started
    client = redis.Redis.from_url(os.environ["PEERS_REDIS_URL"])
    sql = int(client.get("peers:sql") or 0)
    return {
        "peer": args.peer,
        "backend": args.backend,
        "emails": args.n,
        "accepted": sent,
        "completed": done,
        "seconds": round(seconds, 2),
        "emails_per_second": round(sent / seconds, 2) if seconds > 0 else 0,
        "peak_rss_mb_per_worker_process": rss,
        "sql_statements_per_email": round(sql / max(sent, 1), 3),
        "db_rows_written_per_email": round((pg_rows() - rows_before) / max(sent, 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["postoffice", "newsletter"])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--backend", choices=["anymail", "smtp"], default="anymail")
    parser.add_argument("--ses-endpoint", default="")
    parser.add_argument("--latency-ms", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()

    sink = SmtpSink(args.latency_ms) if args.backend == "smtp" else None
    os.environ.update(
        {
            "PEER_BACKEND": args.backend,
            "PEER_SES_ENDPOINT": args.ses_endpoint,
            "PEER_SMTP_PORT": str(sink.port if sink else 0),
            "DJANGO_SETTINGS_MODULE": "peerproject.settings",
        }
    )
    ensure_database(os.environ["PEERS_DATABASE_URL"])
    sys.path.insert(0, str(HERE))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    import redis

    redis.Redis.from_url(os.environ["PEERS_REDIS_URL"]).flushdb()
    accepted = Accepted(args.backend, args.ses_endpoint, sink)
    try:
        result = (run_postoffice if args.peer == "postoffice" else run_newsletter)(args, accepted)
    finally:
        if sink:
            sink.stop()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
