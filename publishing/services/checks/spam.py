"""Spam score from SpamAssassin (spamd), every rule hit with its score and explanation."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict

from django.conf import settings
from django.core.cache import cache

from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.message import CheckedMessage
from publishing.services.checks.spamc import MAX_MESSAGE_BYTES, RuleHit, SpamdUnavailable, SpamReport, spamd_report

logger = logging.getLogger(__name__)
NAME, LABEL = "spam_score", "Spam score (SpamAssassin)"
# spamd takes seconds on a large newsletter; the same subject and parts score the same (local
# rules), so a second check of an unchanged message (the publish page, then publishing) reuses it.
CACHE_SECONDS = 3600


def spam_cache_key(message: CheckedMessage) -> str:
    digest = hashlib.sha256("\0".join((message.subject, message.html, message.text)).encode()).hexdigest()
    return f"presend:spam:{settings.SPAMD_HOST}:{settings.SPAMD_PORT}:{digest}"


def spam_report(message: CheckedMessage) -> tuple[SpamReport, bool]:
    """spamd's report of this message, and whether it came from the cache."""
    key = spam_cache_key(message)
    cached = cache.get(key)
    if cached is not None:
        rules = [RuleHit(**rule) for rule in cached.pop("rules")]
        return SpamReport(**cached, rules=rules), True
    report = spamd_report(
        message.mime(), host=settings.SPAMD_HOST, port=settings.SPAMD_PORT, timeout=settings.SPAMD_TIMEOUT_SECONDS
    )
    cache.set(key, asdict(report), CACHE_SECONDS)
    return report, False


def check_spam(message: CheckedMessage) -> CheckResult:
    if len(message.mime()) > MAX_MESSAGE_BYTES:
        return CheckResult(
            NAME, LABEL, Status.UNAVAILABLE, f"Scoring unavailable: the message is over {MAX_MESSAGE_BYTES // 1024} KB."
        )
    host, port = settings.SPAMD_HOST, settings.SPAMD_PORT
    try:
        report, cached = spam_report(message)
    except SpamdUnavailable as exc:
        logger.info("spam scoring unavailable: %s", exc)
        return CheckResult(
            NAME,
            LABEL,
            Status.UNAVAILABLE,
            f"Scoring unavailable: SpamAssassin (spamd) is not running at {host}:{port}.",
            {"error": str(exc)},
        )
    warn, fail = settings.SPAM_SCORE_WARN, settings.SPAM_SCORE_FAIL
    status = Status.FAIL if report.score >= fail else Status.WARN if report.score >= warn else Status.PASS
    hits = sorted(report.rules, key=lambda r: -r.score)
    scoring = [h for h in hits if h.score > 0]
    why = ": " + ", ".join(h.name for h in scoring[:5]) if scoring and status != Status.PASS else ""
    return CheckResult(
        NAME,
        LABEL,
        status,
        f"Score {report.score:g} (warns at {warn:g}, blocks at {fail:g}){why}.",
        {
            "score": report.score,
            "warn_at": warn,
            "fail_at": fail,
            "rules": [{"name": h.name, "score": h.score, "description": h.description} for h in hits],
            "cached": cached,
        },
    )
