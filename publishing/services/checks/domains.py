"""The From domains' health (channels_app.services.domain_health, checked daily): a domain
failing SPF, DKIM, DMARC or List-Unsubscribe readiness is a warning before sending, naming what
to fix. Read from the last check (no DNS here); blocks nothing."""

from __future__ import annotations

from channels_app.models import DomainHealth
from channels_app.services.domain_health import email_sender_domains
from publishing.services.checks.base import CheckResult, Status

NAME, LABEL = "sender_domains", "Sender domains (SPF, DKIM, DMARC)"


def check_sender_domains() -> CheckResult:
    domains = list(email_sender_domains())
    if not domains:
        return CheckResult(NAME, LABEL, Status.PASS, "No email channel sends yet.")
    failing = DomainHealth.objects.filter(domain__in=domains, status=DomainHealth.Status.FAILING)
    problems = {
        h.domain: [
            {"check": c["name"], "problem": c["problem"], "fix": c["fix"], "record": c.get("record")}
            for c in h.checks
            if c.get("status") == DomainHealth.Status.FAILING
        ]
        for h in failing
    }
    if not problems:
        return CheckResult(NAME, LABEL, Status.PASS, f"No failing sender domain ({', '.join(sorted(domains))}).")
    summary = "; ".join(f"{d}: {', '.join(p['check'] for p in ps)}" for d, ps in sorted(problems.items()))
    return CheckResult(
        NAME,
        LABEL,
        Status.WARN,
        f"Sender domain checks failing ({summary}): mail may land in spam. See Domain health in admin.",
        details={"domains": problems},
    )
