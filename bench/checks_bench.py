"""Pre-send checks benchmark: every check of a 100 KB newsletter with 50 outside links.

    make bench NAME=checks      (BENCH_CHECKS_LINKS / BENCH_CHECKS_LATENCY_MS to change)

A local HTTP server answers every link after 100 ms (a slow outside site). The checks run
once cold (caches emptied), three times with the link answers and the spam score cached (an
unchanged newsletter checked again), and once with only the links cached (spamd scores again); spamd is used
when it answers at SPAMD_HOST:SPAMD_PORT (scripts/spamd-start), else the spam check reports
"unavailable" and the JSON says so. Headline: the median cached run in ms (target < 3,000);
also the cold run (target < 10,000) and each check's status.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench import common

common.use_services(database="bulletin_bench_checks", redis_db=5)

LINKS = int(os.environ.get("BENCH_CHECKS_LINKS", "50"))
LATENCY = float(os.environ.get("BENCH_CHECKS_LATENCY_MS", "100")) / 1000
BODY_BYTES = 100 * 1024


class _Slow(BaseHTTPRequestHandler):
    def _answer(self, body: bool) -> None:
        time.sleep(LATENCY)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        if body:
            self.wfile.write(b"ok")

    def do_HEAD(self):  # noqa: N802
        self._answer(False)

    def do_GET(self):  # noqa: N802
        self._answer(True)

    def log_message(self, *args):
        pass


def newsletter_body(base: str) -> str:
    paragraph = (
        "The council met on Tuesday and agreed the budget for the library, the parks and the new "
        "cycle lanes; the minutes list every vote and the questions residents asked. "
    )
    parts, link = [], 0
    while sum(len(p) for p in parts) < BODY_BYTES:
        anchor = f" [Read more]({base}/article/{link})" if link < LINKS else ""
        parts.append(paragraph * 3 + anchor + "\n\n")
        link += 1
    return "".join(parts)


def main() -> None:
    common.django_setup()
    common.ensure_database()
    from django.core.cache import cache

    from publishing.models import Publication
    from publishing.services.checks import publication_checks_run
    from publishing.services.checks.message import checked_message
    from publishing.services.checks.spam import spam_cache_key
    from subscribers.models import Topic

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    topic, _ = Topic.objects.get_or_create(slug="bench-checks", defaults={"name": "Bench checks"})
    Publication.objects.filter(slug="bench-checks").delete()
    publication = Publication.objects.create(
        title="Council budget: what changes for the library", slug="bench-checks", body=newsletter_body(base)
    )
    publication.topics.set([topic])
    print(f"checks bench: {len(publication.body) / 1024:.0f} KB body, {LINKS} links at +{LATENCY * 1000:.0f} ms")

    cache.clear()
    started = time.perf_counter()
    cold = publication_checks_run(publication=publication)
    cold_ms = (time.perf_counter() - started) * 1000
    print(f"cold: {cold_ms:.0f} ms")
    cached_runs = []
    for _ in range(3):
        started = time.perf_counter()
        report = publication_checks_run(publication=publication)
        cached_runs.append((time.perf_counter() - started) * 1000)
    cached_ms = statistics.median(cached_runs)
    print(f"cached: {', '.join(f'{ms:.0f}' for ms in cached_runs)} ms")
    # Links cached but the message scored again (an edit changed it): spamd is the cost then.
    cache.delete(spam_cache_key(checked_message(publication=publication)))
    started = time.perf_counter()
    publication_checks_run(publication=publication)
    rescored_ms = (time.perf_counter() - started) * 1000
    print(f"links cached, spam scored again: {rescored_ms:.0f} ms")
    server.shutdown()
    links = report.get("links").details
    common.report(
        {
            "name": "checks",
            "value": round(cached_ms),
            "unit": "ms (all checks, link answers cached)",
            "cold_ms": round(cold_ms),
            "links_cached_spam_rescored_ms": round(rescored_ms),
            "target_cached_ms": 3000,
            "target_cold_ms": 10000,
            "links": len(links["links"]),
            "link_latency_ms": LATENCY * 1000,
            "html_kb": round(report.get("size").details["html_bytes"] / 1024, 1),
            "spamd": cold.get("spam_score").status != "unavailable",
            "statuses": {r.name: str(r.status) for r in report.results},
        }
    )


if __name__ == "__main__":
    main()
