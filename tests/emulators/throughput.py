"""Measures the SES emulator with real boto3 clients; the figures go in sesv2.py's docstring.

    .venv/bin/python -m tests.emulators.throughput                   # every measurement
    .venv/bin/python -m tests.emulators.throughput send --processes 2 --threads 4

The emulator runs in its own process through its CLI, as a benchmark runs it. Clients are
`--processes` processes of `--threads` threads, each thread with its own boto3 client and
keep-alive connection. Prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

SENDER = "news@example.com"
SIMPLE = {"Simple": {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Hello there"}}}}
TEMPLATE = {"TemplateContent": {"Subject": "Hi {{name}}", "Html": "<p>Hello {{name}}</p>"}, "TemplateData": "{}"}


@contextmanager
def emulator_process(*cli_args: str) -> Iterator[str]:
    command = [sys.executable, "-m", "tests.emulators.sesv2", "--port", "0", "--no-store", *cli_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield json.loads(process.stdout.readline())["endpoint_url"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def make_client(endpoint_url: str) -> Any:
    return boto3.client(
        "sesv2",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )


def bulk_entries(prefix: str, size: int) -> list[dict[str, Any]]:
    data = {"ReplacementTemplate": {"ReplacementTemplateData": '{"name": "Reader"}'}}
    return [
        {"Destination": {"ToAddresses": [f"{prefix}-{n}@example.com"]}, "ReplacementEmailContent": data}
        for n in range(size)
    ]


class RawClient:
    """SendEmail as bare HTTP on one keep-alive connection: what the emulator alone can take."""

    def __init__(self, endpoint_url: str) -> None:
        self.connection = http.client.HTTPConnection(urlsplit(endpoint_url).netloc, timeout=10)

    def send_email(self, **params: Any) -> None:
        body = json.dumps(params)
        self.connection.request("POST", "/v2/email/outbound-emails", body, {"Content-Type": "application/json"})
        self.connection.getresponse().read()


def send_once(workload: str, client: Any, prefix: str) -> int:
    """One request of the workload; returns the emails accepted."""
    if workload in ("send", "raw"):
        client.send_email(
            FromEmailAddress=SENDER, Destination={"ToAddresses": [f"{prefix}@example.com"]}, Content=SIMPLE
        )
        return 1
    size = 50 if workload == "bulk" else 10
    response = client.send_bulk_email(
        FromEmailAddress=SENDER, DefaultContent={"Template": TEMPLATE}, BulkEmailEntries=bulk_entries(prefix, size)
    )
    return sum(result["Status"] == "SUCCESS" for result in response["BulkEmailEntryResults"])


def client_process(workload: str, url: str, threads: int, seconds: float, rate: float, worker: int) -> Counter[str]:
    """`threads` threads sending until the time is up; with `rate`, paced to rate/threads recipients/s each."""
    totals: Counter[str] = Counter()
    lock = threading.Lock()
    started = time.monotonic()

    def loop(thread: int) -> None:
        client = RawClient(url) if workload == "raw" else make_client(url)
        counts, i = Counter[str](), 0
        while time.monotonic() < started + seconds:
            if rate:
                time.sleep(max(0.0, started + i * 10 * threads / rate - time.monotonic()))
            try:
                counts["emails"] += send_once(workload, client, f"w{worker}t{thread}i{i}")
            except ClientError as error:
                counts[error.response["Error"]["Code"]] += 1
            counts["requests"] += 1
            i += 1
        with lock:
            totals.update(counts)

    pool = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    totals["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    return totals


def measure(
    workload: str, processes: int, threads: int, seconds: float, rate: float = 0, cli: tuple[str, ...] = ()
) -> dict[str, Any]:
    with emulator_process(*cli) as url, ProcessPoolExecutor(processes) as pool:
        args = [(workload, url, threads, seconds, rate / processes, n) for n in range(processes)]
        results = list(pool.map(client_process, *zip(*args, strict=True)))
    total = sum(results, Counter())
    elapsed = max(result["elapsed_ms"] for result in results) / 1000
    del total["elapsed_ms"]
    return {
        "workload": workload,
        "emulator": " ".join(cli) or "defaults",
        "clients": f"{processes} processes x {threads} threads",
        "per_second": {key: round(value / elapsed, 1) for key, value in total.items()},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("which", nargs="?", choices=["send", "bulk", "rate", "raw", "all"], default="all")
    parser.add_argument("--processes", type=int, default=0, help="default: 1 and 2, each measured")
    parser.add_argument("--threads", type=int, default=0, help="default: 8 connections in all")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0, help="rate_per_second for the 'rate' measurement")
    args = parser.parse_args(argv)
    shapes = [(args.processes, args.threads or 8)] if args.processes else [(1, 8), (2, 4)]
    for processes, threads in shapes:
        if args.which in ("send", "all"):
            print(json.dumps(measure("send", processes, threads, args.seconds)), flush=True)
        if args.which in ("bulk", "all"):
            print(json.dumps(measure("bulk", processes, threads, args.seconds, cli=("--latency-ms", "20"))), flush=True)
    if args.which in ("raw", "all"):
        print(json.dumps(measure("raw", 1, args.threads or 4, args.seconds)), flush=True)
    if args.which in ("rate", "all"):
        for pace in (1.0, 1.25):  # a client that keeps to the limit, and one that sends 25% too fast
            result = measure("rate", 1, 1, args.seconds, rate=args.rate * pace, cli=("--rate", str(args.rate)))
            result["client_pace"] = args.rate * pace
            result["accepted_of_configured"] = round(result["per_second"].get("emails", 0) / args.rate, 3)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
