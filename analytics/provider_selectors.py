"""Reads per mailbox provider (Gmail, Outlook, Yahoo, Apple, other): delivery, bounce,
complaint, open and click rates, over a date range or for one send.

Deliveries and their events are counted per recipient domain in SQL (a few rows per domain),
then folded into providers with the domain → provider map (channels_app.services.
mailbox_providers: table, cache, MX), so no query runs per delivery.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q, QuerySet, Value
from django.db.models.functions import Lower, StrIndex, Substr

from analytics.models import EngagementEvent
from channels_app.adapters import receipt_kinds
from channels_app.models import Delivery, MailboxProvider
from channels_app.services.mailbox_providers import mailbox_providers_for

COUNTS = ("sent", "delivered", "hard_bounces", "bounces", "complaints", "opened", "clicked")


def _domain(field: str):
    return Lower(Substr(field, StrIndex(field, Value("@")) + 1))


def provider_rates(deliveries: QuerySet) -> dict[str, dict[str, int]]:
    """{provider: {sent, delivered, hard_bounces, bounces, complaints, opened, clicked}} over
    `deliveries` handed to the provider (sent_at set); opens and clicks count delivery once each,
    human opens only."""
    sent = deliveries.filter(sent_at__isnull=False)
    per_domain: dict[str, dict[str, int]] = {}
    for row in sent.annotate(domain=_domain("recipient")).values("domain").annotate(n=Count("id")):
        per_domain.setdefault(row["domain"], dict.fromkeys(COUNTS, 0))["sent"] = row["n"]
    events = (
        EngagementEvent.objects.filter(delivery__in=sent.values("pk"))
        .annotate(domain=_domain("delivery__recipient"))
        .values("domain")
        .annotate(
            delivered=Count("delivery_id", distinct=True, filter=Q(kind="delivered")),
            hard_bounces=Count("delivery_id", distinct=True, filter=Q(kind="bounce", metadata__bounce_type="hard")),
            bounces=Count("delivery_id", distinct=True, filter=Q(kind="bounce")),
            complaints=Count("delivery_id", distinct=True, filter=Q(kind="complaint")),
            opened=Count("delivery_id", distinct=True, filter=Q(kind="open", is_machine=False)),
            clicked=Count("delivery_id", distinct=True, filter=Q(kind="click", is_machine=False)),
        )
    )
    for row in events:
        counts = per_domain.setdefault(row["domain"], dict.fromkeys(COUNTS, 0))
        for name in COUNTS[1:]:
            counts[name] += row[name]
    providers = mailbox_providers_for(per_domain)
    totals: dict[str, dict[str, int]] = {}
    for domain, counts in per_domain.items():
        into = totals.setdefault(providers[domain], dict.fromkeys(COUNTS, 0))
        for name in COUNTS:
            into[name] += counts[name]
    return totals


def mailbox_provider_report(*, start: date, end: date, channel_ids: list[int] | None = None) -> dict:
    """Per provider, for the email deliveries handed over between `start` and `end` (UTC days)."""
    deliveries = Delivery.objects.filter(
        channel__kind__in=receipt_kinds(), sent_at__date__gte=start, sent_at__date__lte=end
    )
    if channel_ids:
        deliveries = deliveries.filter(channel_id__in=channel_ids)
    totals = provider_rates(deliveries)
    rows = []
    for provider in MailboxProvider:
        counts = totals.get(provider.value, dict.fromkeys(COUNTS, 0))
        rows.append({"provider": provider.value, "label": provider.label, **counts, **_rates(counts)})
    return {"providers": rows}


def _rates(counts: dict[str, int]) -> dict[str, float | None]:
    sent = counts["sent"]
    if not sent:
        return dict.fromkeys(("delivery_rate", "bounce_rate", "complaint_rate", "open_rate", "click_rate"))
    return {
        "delivery_rate": round(counts["delivered"] / sent, 4),
        "bounce_rate": round(counts["bounces"] / sent, 4),
        "complaint_rate": round(counts["complaints"] / sent, 4),
        "open_rate": round(counts["opened"] / sent, 4),
        "click_rate": round(counts["clicked"] / sent, 4),
    }
