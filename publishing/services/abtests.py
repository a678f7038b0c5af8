"""A/B subject tests for newsletters.

Design: one Send per variant. When the newsletter is published, `test_fraction` of its email
audience (a deterministic shuffle of subscriber ids, dealt round-robin) gets variant sends
restricted to their ids, while Slack, webhook and broadcast destinations get the newsletter at
once (they have no subject). The test's `decide_at` is a row in the database; a beat task
(`abtests_decide_due`, every minute) picks the variant with the best human open or click rate
(unique deliveries with at least one such event, machine opens and link scanners excluded; ties
go to the earlier variant) and sends it to everyone the variants did not reach
(`exclude_send_ids`). No long broker countdowns, so a restarted worker loses nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from analytics.models import EngagementEvent
from channels_app.adapters import ADAPTERS, personal_kinds
from channels_app.models import HANDED_OVER, Delivery, Send
from core.exceptions import ApplicationError
from core.roles import Role
from publishing.models import ABTest, ABTestVariant, Publication
from publishing.selectors import audience_recipients, publication_segments
from publishing.services.states import role_require

MIN_VARIANTS, MAX_VARIANTS = 2, 4


@transaction.atomic
def abtest_configure(
    *,
    publication: Publication,
    actor,
    subjects: Sequence[str],
    test_fraction: float = 0.2,
    wait_minutes: int = 60,
    metric: str = ABTest.Metric.OPENS,
) -> ABTest | None:
    """Set (or replace) the subject variants of a newsletter not yet published; an empty list
    removes the test."""
    role_require(actor, Role.EDITOR, "Configuring an A/B test")
    subjects = [" ".join(s.split()) for s in subjects if s and s.strip()]
    existing = ABTest.objects.filter(publication=publication).first()
    if existing is not None and existing.status != ABTest.Status.DRAFT:
        raise ApplicationError("This A/B test has started; it can no longer be changed.", status_code=409)
    if not subjects:
        if existing is not None:
            existing.delete()
        return None
    abtest_validate(
        publication=publication,
        subjects=subjects,
        test_fraction=test_fraction,
        wait_minutes=wait_minutes,
        metric=metric,
    )
    test, _ = ABTest.objects.update_or_create(
        publication=publication,
        defaults={"test_fraction": test_fraction, "wait_minutes": wait_minutes, "metric": metric},
    )
    test.variants.all().delete()
    ABTestVariant.objects.bulk_create(
        [ABTestVariant(test=test, index=i, subject=subject[:300]) for i, subject in enumerate(subjects)]
    )
    return test


def abtest_validate(
    *, publication: Publication, subjects: list[str], test_fraction: float, wait_minutes: int, metric: str
) -> None:
    """Field errors of an A/B test configuration (also used by the admin form)."""
    fraction, wait = test_fraction, wait_minutes
    errors: dict[str, str] = {}
    if not MIN_VARIANTS <= len(subjects) <= MAX_VARIANTS:
        errors["subjects"] = f"Give {MIN_VARIANTS} to {MAX_VARIANTS} subject variants."
    elif len(set(subjects)) != len(subjects):
        errors["subjects"] = "The variants must differ."
    if not 0.02 <= fraction <= 0.5:
        errors["test_fraction"] = "Between 0.02 and 0.5 (2% to 50% of the email audience)."
    if not 1 <= wait <= 7 * 24 * 60:
        errors["wait_minutes"] = "Between 1 minute and 7 days."
    if metric not in ABTest.Metric.values:
        errors["metric"] = f"One of {', '.join(ABTest.Metric.values)}."
    if publication.priority == Publication.Priority.ALERT:
        errors["priority"] = "Alerts go to everyone at once; A/B tests are for newsletters."
    if publication.state in (Publication.State.PUBLISHED, Publication.State.ARCHIVED):
        errors["publication"] = "It is already published."
    if errors:
        raise ApplicationError.for_fields(errors, message="Invalid A/B test")


def subject_kinds() -> list[str]:
    """The personal kinds whose messages have a subject to test (email)."""
    return [kind for kind in personal_kinds() if ADAPTERS[kind].renders_email]


def _test_groups(test: ABTest, topic_ids: list[int]) -> list[list[int]]:
    """Variant groups of the audience with a subject (its segment and exclusion applied): a
    shuffle that is the same on every run."""
    spec = publication_segments(publication=test.publication)
    limits = {"segment": spec.get("segment"), "exclude_segment": spec.get("exclude_segment")}
    ids = list(
        {
            pk
            for kind in subject_kinds()
            for pk in audience_recipients(
                kind=kind, topic_ids=topic_ids, frequencies=["instant"], **limits
            ).values_list("pk", flat=True)
        }
    )
    ids.sort(key=lambda pk: hashlib.sha256(f"{test.pk}:{pk}".encode()).digest())
    variants = test.variants.count()
    size = min(len(ids), max(variants, math.ceil(len(ids) * test.test_fraction))) if ids else 0
    return [ids[:size][i::variants] for i in range(variants)]


def abtest_start(*, test: ABTest, actor) -> list[Send]:
    """Called by publishing (inside its transaction): the variant sends and the chat/broadcast send."""
    from publishing.services.publish import _send

    publication = test.publication
    topic_ids = list(publication.topics.values_list("pk", flat=True))
    chat_kinds = [k for k in personal_kinds() if k not in subject_kinds()]  # no subject to test there
    sends = [_send(publication, "newsletter", Send.Kind.NEWSLETTER, topic_ids, chat_kinds, actor)]
    now = timezone.now()
    for variant, group in zip(test.variants.order_by("index"), _test_groups(test, topic_ids), strict=True):
        send = _send(
            publication,
            f"ab:{variant.label}",
            Send.Kind.NEWSLETTER,
            topic_ids,
            subject_kinds(),
            actor,
            broadcast=False,
            subject=variant.subject,
            extra_audience={"subscriber_ids": group},
        )
        ABTestVariant.objects.filter(pk=variant.pk).update(send=send)
        sends.append(send)
    ABTest.objects.filter(pk=test.pk).update(
        status=ABTest.Status.TESTING,
        started_at=now,
        decide_at=now + timedelta(minutes=test.wait_minutes),
        updated_at=now,
    )
    return sends


def abtest_results(*, test: ABTest) -> list[dict[str, Any]]:
    """Per variant: deliveries handed to the provider, unique human opens and clicks, rates. One query."""
    kind = {ABTest.Metric.OPENS: EngagementEvent.Kind.OPEN, ABTest.Metric.CLICKS: EngagementEvent.Kind.CLICK}

    def engaged(event_kind: str) -> Exists:
        return Exists(EngagementEvent.objects.filter(delivery=OuterRef("pk"), kind=event_kind, is_machine=False))

    rows = (
        Delivery.objects.filter(send__in=test.variants.exclude(send=None).values("send_id"))
        .annotate(opened=engaged(kind[ABTest.Metric.OPENS]), clicked=engaged(kind[ABTest.Metric.CLICKS]))
        .values("send_id")
        .annotate(
            deliveries=Count("pk"),
            handed=Count("pk", filter=Q(state__in=HANDED_OVER)),
            opens=Count("pk", filter=Q(opened=True)),
            clicks=Count("pk", filter=Q(clicked=True)),
        )
        .order_by()
    )
    by_send = {row["send_id"]: row for row in rows}
    results = []
    for variant in test.variants.order_by("index"):
        row = by_send.get(variant.send_id, {})
        handed = row.get("handed", 0)
        opens, clicks = row.get("opens", 0), row.get("clicks", 0)
        results.append(
            {
                "variant": variant.label,
                "index": variant.index,
                "subject": variant.subject,
                "send_id": variant.send_id,
                "deliveries": row.get("deliveries", 0),
                "handed_to_provider": handed,
                "unique_opens": opens,
                "unique_clicks": clicks,
                "open_rate": round(opens / handed, 4) if handed else 0.0,
                "click_rate": round(clicks / handed, 4) if handed else 0.0,
                "winner": test.winner_id == variant.pk,
            }
        )
    return results


def abtest_winner(*, test: ABTest, results: list[dict[str, Any]]) -> int:
    """The index of the best variant by the test's metric; ties go to the earlier variant."""
    rate = "open_rate" if test.metric == ABTest.Metric.OPENS else "click_rate"
    return max(results, key=lambda r: (r[rate], -r["index"]))["index"]


def abtests_decide_due(*, now=None) -> int:
    now = now or timezone.now()
    due = ABTest.objects.filter(status=ABTest.Status.TESTING, decide_at__lte=now).values_list("pk", flat=True)
    return sum(abtest_decide(test_id=pk, now=now) for pk in list(due[:100]))


@transaction.atomic
def abtest_decide(*, test_id: int, now=None) -> bool:
    """Pick the winner and send it to the rest, once (row lock + status, and the send's key)."""
    from publishing.services.publish import _send

    now = now or timezone.now()
    test = ABTest.objects.select_for_update(skip_locked=True).filter(pk=test_id, status=ABTest.Status.TESTING).first()
    if test is None or (test.decide_at and test.decide_at > now):
        return False
    winner = test.variants.get(index=abtest_winner(test=test, results=abtest_results(test=test)))
    publication = test.publication
    send = _send(
        publication,
        "ab:winner",
        Send.Kind.NEWSLETTER,
        list(publication.topics.values_list("pk", flat=True)),
        subject_kinds(),
        publication.approved_by,
        broadcast=False,
        subject=winner.subject,
        extra_audience={"exclude_send_ids": list(test.variants.exclude(send=None).values_list("send_id", flat=True))},
    )
    test.status, test.winner, test.winner_send, test.decided_at = ABTest.Status.WINNER_SENT, winner, send, now
    test.save(update_fields=["status", "winner", "winner_send", "decided_at", "updated_at"])
    return True
