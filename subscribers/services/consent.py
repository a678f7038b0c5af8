"""Proof of consent: who did what, how, from where, agreeing to which words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from subscribers.models import ConsentRecord, Subscriber


@dataclass(frozen=True)
class ConsentContext:
    """Where a change comes from. Pages build it from the request, the API from its user."""

    method: str  # ConsentRecord.Method
    source: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    actor: Any = None  # the authenticated user, if any

    @property
    def is_trusted(self) -> bool:
        """An authenticated caller (API, admin, import) may update an existing profile."""
        return self.method in (ConsentRecord.Method.API, ConsentRecord.Method.ADMIN, ConsentRecord.Method.IMPORT)


def consent_record_create(
    *, subscriber: Subscriber, action: str, context: ConsentContext, wording: str = "", source: str = ""
) -> ConsentRecord:
    return ConsentRecord.objects.create(
        subscriber=subscriber,
        action=action,
        method=context.method,
        source=(source or context.source)[:255],
        ip_address=context.ip_address,
        user_agent=context.user_agent[:400],
        wording=wording,
        actor=context.actor if getattr(context.actor, "pk", None) else None,
    )
