"""Spam score from SpamAssassin (spamd), every rule hit with its score and explanation."""

from __future__ import annotations

import logging

from django.conf import settings

from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.message import CheckedMessage
from publishing.services.checks.spamc import MAX_MESSAGE_BYTES, SpamdUnavailable, spamd_report

logger = logging.getLogger(__name__)
NAME, LABEL = "spam_score", "Spam score (SpamAssassin)"


def check_spam(message: CheckedMessage) -> CheckResult:
    raw = message.mime()
    if len(raw) > MAX_MESSAGE_BYTES:
        return CheckResult(
            NAME, LABEL, Status.UNAVAILABLE, f"Scoring unavailable: the message is over {MAX_MESSAGE_BYTES // 1024} KB."
        )
    host, port = settings.SPAMD_HOST, settings.SPAMD_PORT
    try:
        report = spamd_report(raw, host=host, port=port, timeout=settings.SPAMD_TIMEOUT_SECONDS)
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
        },
    )
