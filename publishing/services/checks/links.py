"""Links that answer an error: every link target of the message, checked through
core.outbound (SSRF rules apply), HEAD first and GET when HEAD is refused, short timeouts,
answers cached (the Django cache: Redis) so a second check of the same newsletter is quick.

Links to Bulletin itself (archive page, tracking, unsubscribe) are not fetched: they are ours,
and an unpublished publication's archive page does not exist yet.
"""

from __future__ import annotations

import hashlib
import re
from concurrent.futures import ThreadPoolExecutor
from html import unescape
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache

from core.outbound import TargetRefused, sanitize_url
from core.outbound.http import OutboundSession
from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.message import CheckedMessage

NAME, LABEL = "links", "Links"
_ATTRIBUTE = re.compile(r"""<(?:a|img)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.I)
ERROR_CACHE_SECONDS = 300  # a link that could not be reached is tried again sooner
MAX_LINKS = 200


def message_links(message: CheckedMessage) -> list[str]:
    """The real targets (the send's link table) and any other http(s) link or image of the HTML."""
    found = list(message.content.get("links", []))
    for match in _ATTRIBUTE.finditer(message.html):
        found.append(unescape(match[1] if match[1] is not None else match[2]).strip())
    own = settings.SITE_URL.rstrip("/") + "/"
    seen: dict[str, None] = {}
    for url in found:
        if url.lower().startswith(("http://", "https://")) and not (url + "/").startswith(own):
            seen.setdefault(url, None)
    return list(seen)[:MAX_LINKS]


def _cache_key(url: str) -> str:
    return "presend:link:" + hashlib.sha256(url.encode()).hexdigest()


def link_probe(url: str) -> dict[str, Any]:
    """{"url", "status" (HTTP status or None), "error"}: HEAD, then GET if HEAD is not answered 2xx/3xx."""
    cached = cache.get(_cache_key(url))
    if cached is not None:
        return {**cached, "cached": True}
    timeout = settings.PRESEND_LINK_TIMEOUT_SECONDS
    answer: dict[str, Any] = {"url": url, "status": None, "error": ""}
    with OutboundSession(pool_maxsize=1) as session:
        try:
            response = session.head(url, timeout=timeout)
            if response.status_code >= 400:
                response = session.get(url, timeout=timeout)
            answer["status"] = response.status_code
            if 300 <= response.status_code < 400:
                answer["location"] = sanitize_url(response.headers.get("Location", ""))
        except TargetRefused as exc:
            answer["error"] = f"not checked: {exc.reason}"
        except requests.RequestException as exc:
            answer["error"] = "could not be reached (" + type(exc).__name__ + ")"
    seconds = settings.PRESEND_LINK_CACHE_SECONDS if answer["status"] else ERROR_CACHE_SECONDS
    cache.set(_cache_key(url), answer, seconds)
    return {**answer, "cached": False}


def check_links(message: CheckedMessage) -> CheckResult:
    urls = message_links(message)
    if not urls:
        return CheckResult(NAME, LABEL, Status.PASS, "No outside links to check.", {"links": []})
    with ThreadPoolExecutor(max_workers=max(1, min(settings.PRESEND_LINK_WORKERS, len(urls)))) as pool:
        probes = list(pool.map(link_probe, urls))
    broken = [p for p in probes if p["status"] is not None and p["status"] >= 400 and p["status"] != 429]
    unreached = [p for p in probes if p["status"] is None or p["status"] == 429]
    details = {"links": probes, "broken": len(broken), "unreached": len(unreached)}
    if broken:
        listed = ", ".join(f"{p['url']} ({p['status']})" for p in broken[:5])
        return CheckResult(
            NAME, LABEL, Status.FAIL, f"{len(broken)} of {len(urls)} links answer an error: {listed}.", details
        )
    if unreached:
        listed = ", ".join(f"{p['url']} ({p['error'] or p['status']})" for p in unreached[:5])
        return CheckResult(
            NAME, LABEL, Status.WARN, f"{len(unreached)} of {len(urls)} links were not checked: {listed}.", details
        )
    return CheckResult(NAME, LABEL, Status.PASS, f"All {len(urls)} links answer.", details)
