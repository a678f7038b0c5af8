"""The gate: publishing is refused while a check fails, unless a publisher overrides it with a
reason, which is recorded (who, when, why, which checks) and shown with the publication."""

from __future__ import annotations

from django.conf import settings

from core.exceptions import ApplicationError
from core.roles import Role, role_require
from publishing.models import Publication, PublicationChecksOverride
from publishing.services.checks import CheckReport, publication_checks_run

OVERRIDE_FIELD = "checks_override_reason"
REASON_MIN_CHARS = 10
REASON_MAX_CHARS = 1000


def publication_checks_gate_run(*, publication: Publication) -> CheckReport | None:
    """The report the gate decides on; None when the gate is off (PRESEND_CHECKS_GATE).
    Run before the publish transaction: it talks to spamd and fetches links."""
    if not settings.PRESEND_CHECKS_GATE:
        return None
    return publication_checks_run(publication=publication)


def publication_checks_gate(
    *, publication: Publication, actor, report: CheckReport | None, reason: str | None
) -> PublicationChecksOverride | None:
    """Refuse (400) while a check fails and no reason is given; with a reason, record the override.
    Call inside the publish transaction, so the override and the publish are one write."""
    failed = report.failed if report is not None else []
    reason = (reason or "").strip()
    if not failed:
        return None
    names = ", ".join(r.label for r in failed)
    if not reason:
        raise ApplicationError(
            f"Pre-send checks failed ({names}): fix them, or override with a reason.",
            {
                "fields": {OVERRIDE_FIELD: [f"Required to publish while these checks fail: {names}."]},
                "checks": [r.as_json() for r in failed],
            },
        )
    role_require(actor, Role.PUBLISHER, "Overriding pre-send checks")
    if len(reason) < REASON_MIN_CHARS or len(reason) > REASON_MAX_CHARS:
        raise ApplicationError.for_fields(
            {OVERRIDE_FIELD: f"Say why, in {REASON_MIN_CHARS} to {REASON_MAX_CHARS} characters."}
        )
    return PublicationChecksOverride.objects.create(
        publication=publication,
        actor=actor if getattr(actor, "pk", None) else None,
        reason=reason,
        failed_checks=[{"name": r.name, "status": str(r.status), "message": r.message} for r in failed],
    )
