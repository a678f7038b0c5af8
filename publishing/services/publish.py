"""Publishing: now or at `publish_at`, and the send it starts.

An alert (priority `alert`) goes at once, on the high-priority queue, to every instant
subscriber of its topics (email, Slack, webhooks) and to the broadcast destinations bound to
them. A normal publication goes the same way as a newsletter on the bulk queue (through an A/B
subject test first when one is configured), and into the daily and weekly digests.

Idempotent twice over: a published publication is never published again, and its send's key
(`publication:<id>:alert`) makes a second send impossible even for a retried task.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from channels_app.adapters import personal_kinds
from channels_app.models import Send
from channels_app.services.events import publication_published_emit
from channels_app.services.sends import send_create
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import Publication
from publishing.selectors import publication_audience_of, publication_segments
from publishing.services.checks import CheckReport
from publishing.services.checks.gate import publication_checks_gate, publication_checks_gate_run
from publishing.services.fanout import send_start
from publishing.services.rendering import publication_content, publication_subject
from publishing.services.states import publication_ready_check, publication_transition, role_require

logger = logging.getLogger(__name__)
State = Publication.State


def send_key(publication: Publication, part: str) -> str:
    return f"publication:{publication.pk}:{part}"


def publication_audience_check(*, publication: Publication, confirmed: int) -> None:
    """The publisher confirmed `confirmed` recipients; refuse if the audience changed since."""
    current = publication_audience_of(publication=publication)["total"]
    if current != confirmed:
        raise ApplicationError(
            f"The audience changed from {confirmed} to {current} recipients since you reviewed it; "
            "review it and confirm again.",
            {"fields": {"confirm_audience": [f"The audience is now {current}."]}, "audience": current},
            status_code=409,
        )


def publication_publish(
    *,
    publication: Publication,
    actor,
    publish_at: datetime | None = None,
    confirmed_audience: int | None = None,
    checks_override_reason: str | None = None,
) -> Publication:
    """Publish now, or schedule for `publish_at` (which must be in the future). Publishing a
    publication that is already published changes and sends nothing. While a pre-send check
    fails, only with `checks_override_reason` (recorded; publishing.services.checks.gate)."""
    role_require(actor, Role.PUBLISHER, "Publishing")
    report = None
    if publication.state not in (State.PUBLISHED, State.ARCHIVED):
        # Outside the transaction: spamd and link fetches take a moment; no row is locked meanwhile.
        report = publication_checks_gate_run(publication=publication)
    return _publication_publish(
        publication=publication,
        actor=actor,
        publish_at=publish_at,
        confirmed_audience=confirmed_audience,
        report=report,
        override_reason=checks_override_reason,
    )


@transaction.atomic
def _publication_publish(
    *,
    publication: Publication,
    actor,
    publish_at: datetime | None,
    confirmed_audience: int | None,
    report: CheckReport | None,
    override_reason: str | None,
) -> Publication:
    locked = Publication.objects.select_for_update().get(pk=publication.pk)
    if locked.state == State.PUBLISHED and publish_at is None:
        return locked
    if locked.state in (State.PUBLISHED, State.ARCHIVED):
        raise ApplicationError(f"This publication is already {locked.state}.", status_code=409)
    now = timezone.now()
    if publish_at is not None and publish_at <= now:
        raise ApplicationError.for_fields({"publish_at": "Must be in the future (or leave it out to publish now)."})
    publication_ready_check(locked)
    if confirmed_audience is not None:
        publication_audience_check(publication=locked, confirmed=confirmed_audience)
    override = publication_checks_gate(publication=locked, actor=actor, report=report, reason=override_reason)
    note = f"pre-send checks overridden: {override.reason}" if override else ""
    if publish_at is not None:
        return publication_transition(
            publication=locked,
            to_state=State.SCHEDULED,
            actor=actor,
            note=note,
            publish_at=publish_at,
            approved_by=actor,
        )
    locked = publication_transition(
        publication=locked, to_state=State.PUBLISHED, actor=actor, note=note, published_at=now, approved_by=actor
    )
    sends = publication_send_start(publication=locked, actor=actor)
    publication_published_emit(publication=locked, send_ids=[s.pk for s in sends])
    return locked


def publications_publish_due(*, now: datetime | None = None, batch: int = 100) -> int:
    """Publish every scheduled publication whose time has come (beat, every few seconds), a
    batch at a time until none is left, however many came due at once."""
    now = now or timezone.now()
    due = Publication.objects.filter(state=State.SCHEDULED, publish_at__lte=now).order_by("publish_at", "pk")
    published, seen = 0, set()
    while ids := list(due.exclude(pk__in=seen).values_list("pk", flat=True)[:batch]):
        seen.update(ids)  # one another run holds (skip-locked) is not waited for, nor tried again
        published += sum(publication_publish_scheduled(publication_id=pk, now=now) for pk in ids)
    return published


@transaction.atomic
def publication_publish_scheduled(*, publication_id: int, now: datetime | None = None) -> bool:
    """Publish one due scheduled publication; False when another run got it first or it changed."""
    now = now or timezone.now()
    locked = (
        Publication.objects.select_for_update(skip_locked=True)
        .filter(pk=publication_id, state=State.SCHEDULED, publish_at__lte=now)
        .first()
    )
    if locked is None:
        return False
    try:
        publication_ready_check(locked)
    except ApplicationError as exc:
        # Someone removed its topics after scheduling: back to draft, with the reason on record.
        publication_transition(publication=locked, to_state=State.DRAFT, actor=None, note=f"Not published: {exc}")
        logger.warning("scheduled publication %s not published: %s", locked.pk, exc)
        return False
    note = "published at its scheduled time"
    locked = publication_transition(
        publication=locked, to_state=State.PUBLISHED, actor=None, note=note, published_at=now
    )
    sends = publication_send_start(publication=locked, actor=locked.approved_by)
    publication_published_emit(publication=locked, send_ids=[s.pk for s in sends])
    return True


def publication_send_start(*, publication: Publication, actor) -> list[Send]:
    """Create (once, by key) and start the sends of a just-published publication."""
    topic_ids = list(publication.topics.values_list("pk", flat=True))
    if publication.priority == Publication.Priority.ALERT:
        return [_send(publication, "alert", Send.Kind.ALERT, topic_ids, personal_kinds(), actor, high_priority=True)]
    test = getattr(publication, "ab_test", None)
    if test is not None and test.status == test.Status.DRAFT and test.variants.count() >= 2:
        from publishing.services.abtests import abtest_start

        return abtest_start(test=test, actor=actor)
    return [_send(publication, "newsletter", Send.Kind.NEWSLETTER, topic_ids, personal_kinds(), actor)]


def _send(
    publication: Publication,
    part: str,
    kind: str,
    topic_ids: list[int],
    channel_kinds: list[str],
    actor,
    *,
    high_priority: bool = False,
    broadcast: bool = True,
    subject: str | None = None,
    extra_audience: dict | None = None,
) -> Send:
    content = publication_content(publication=publication, subject=subject)
    audience = {
        "topic_ids": topic_ids,
        "frequencies": ["instant"],
        "channel_kinds": channel_kinds,
        "broadcast": broadcast,
        **publication_segments(publication=publication),
        **(extra_audience or {}),
    }
    send, _ = send_create(
        key=send_key(publication, part),
        kind=kind,
        subject=publication_subject(publication=publication, subject=subject),
        content=content,
        audience=audience,
        high_priority=high_priority,
        publication=publication,
        actor=actor if getattr(actor, "pk", None) else None,
    )
    return send_start(send=send)
