"""wrk, the load generator of the HTTP benchmarks (api, tracking): installed when missing, run
over a file of paths with bench/paths.lua, its figures returned as a dict."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).with_name("paths.lua")
_ERRORS = ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")


def wrk_ensure() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    for cmd in (
        ["apt-get", "install", "-y", "-q", "wrk"],
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "wrk"],
    ):
        subprocess.run(cmd, check=False, capture_output=True)
        if shutil.which("wrk"):
            break
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is missing and apt-get could not install it (Debian package 'wrk')")
    return found


def wrk_run(
    wrk: str, *, port: int, paths: Path, seconds: int, connections: int, headers: dict[str, str], threads: int = 2
) -> dict:
    """One run: requests, p50/p95/p99 ms, requests_per_second and errors (non-2xx/3xx included)."""
    out = subprocess.run(
        [wrk, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(SCRIPT),
         f"http://127.0.0.1:{port}", "--", str(paths), *(f"{k}: {v}" for k, v in headers.items())],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result = json.loads([line for line in out.stdout.splitlines() if line.startswith("{")][-1])
    result["requests_per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in _ERRORS)
    return result
