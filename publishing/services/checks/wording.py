"""The subject (length, capitals) and merge fields that would not be filled in."""

from __future__ import annotations

import re

from publishing.merge import merge_problems
from publishing.models import Publication
from publishing.services.checks.base import CheckResult, Status
from publishing.services.checks.message import CheckedMessage

SUBJECT, SUBJECT_LABEL = "subject", "Subject line"
MERGE, MERGE_LABEL = "merge_fields", "Merge fields"
# Mobile clients show about 40 characters, desktop about 60-70; past 100 every client cuts.
SUBJECT_WARN_CHARS = 70
SUBJECT_MAX_CHARS = 100
# A merge field or placeholder printed as written (rendering defuses `{{` with a zero-width space).
_LEFTOVER = re.compile(r"\{\u200b?\{\{?\s*[\w.]+[^{}]*\}?\}\}")


def check_subject(message: CheckedMessage) -> CheckResult:
    subject = message.subject.strip()
    letters = [c for c in subject if c.isalpha()]
    details = {"subject": subject, "length": len(subject), "warn_over": SUBJECT_WARN_CHARS}
    if not subject:
        return CheckResult(SUBJECT, SUBJECT_LABEL, Status.FAIL, "The subject is empty.", details)
    problems = []
    if len(subject) > SUBJECT_WARN_CHARS:
        cut = "every client cuts it" if len(subject) > SUBJECT_MAX_CHARS else "mobile clients cut it"
        problems.append(f"{len(subject)} characters long ({cut}; aim for {SUBJECT_WARN_CHARS} or fewer)")
    if len(letters) >= 4 and all(c.isupper() for c in letters):
        problems.append("written in capitals (a spam signal: SpamAssassin's SUBJ_ALL_CAPS)")
    if subject.count("!") >= 3:
        problems.append("has three or more exclamation marks")
    if problems:
        return CheckResult(SUBJECT, SUBJECT_LABEL, Status.WARN, "The subject is " + "; ".join(problems) + ".", details)
    return CheckResult(SUBJECT, SUBJECT_LABEL, Status.PASS, f"{len(subject)} characters, mixed case.", details)


def check_merge_fields(message: CheckedMessage, *, publication: Publication, warnings: list[dict]) -> CheckResult:
    """Fail: a `{{ subscriber.… }}` that is not a merge field, or any placeholder left in the
    rendered message. Warn: a field some recipients have no value for (the audience counted)."""
    problems = merge_problems(publication.body) + merge_problems(publication.email_subject)
    leftovers = sorted(
        {
            m[0].replace("\u200b", "")
            for part in (message.subject, message.html, message.text)
            for m in _LEFTOVER.finditer(part)
        }
    )
    details = {"problems": problems, "unresolved": leftovers, "missing_values": warnings}
    if problems or leftovers:
        listed = "; ".join([*problems, *(f"{text} is left as written" for text in leftovers[:5])])
        return CheckResult(MERGE, MERGE_LABEL, Status.FAIL, f"Unresolved merge fields: {listed}.", details)
    if warnings:
        listed = "; ".join(f"{w['field']} is empty for {w['missing']} of {w['audience']}" for w in warnings)
        return CheckResult(
            MERGE, MERGE_LABEL, Status.WARN, f"Some recipients will see an empty value: {listed}.", details
        )
    used = len(message.content.get("merge_fields", []))
    return CheckResult(
        MERGE, MERGE_LABEL, Status.PASS, f"{used} merge field{'s' if used != 1 else ''}, all resolved.", details
    )
