"""Reads of channels_app that feed the API and admin."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection
from django.db.models import Count, QuerySet, Sum

from channels_app.models import Channel, Delivery, DeliveryCount, Send


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.prefetch_related("topics", "warmup_plans").order_by("name")


def send_deliveries(*, send: Send, state: str | None = None) -> QuerySet[Delivery]:
    """A send's deliveries with the channel each belongs to and the one that carried it."""
    deliveries = Delivery.objects.filter(send=send).select_related("channel", "sent_via").defer("context")
    return (deliveries.filter(state=state) if state else deliveries).order_by("pk")


def send_list() -> QuerySet[Send]:
    return Send.objects.select_related("publication").order_by("-created_at")


def delivery_totals_by_channel() -> list[tuple[int, str, int]]:
    """(channel, state, deliveries) over every send: what /metrics shows. From the kept counts
    on PostgreSQL (a few rows per send), by counting elsewhere."""
    if connection.vendor == "postgresql":
        rows = DeliveryCount.objects.values_list("channel_id", "state").annotate(total=Sum("n")).filter(total__gt=0)
    else:
        rows = Delivery.objects.values_list("channel_id", "state").annotate(total=Count("*"))
    return sorted(rows.order_by())


def delivery_counts(*, send_ids: Iterable[int]) -> list[tuple[int, int, str, int]]:
    """(send, channel, state, deliveries) for every non-empty cell of these sends.

    PostgreSQL keeps the counts itself (DeliveryCount): a few rows per send, whatever its size.
    Elsewhere the deliveries are counted."""
    send_ids = list(send_ids)
    if not send_ids:
        return []
    if connection.vendor == "postgresql":
        rows = (
            DeliveryCount.objects.filter(send_id__in=send_ids)
            .values_list("send_id", "channel_id", "state")
            .annotate(total=Sum("n"))
            .filter(total__gt=0)
        )
    else:
        rows = (
            Delivery.objects.filter(send_id__in=send_ids)
            .values_list("send_id", "channel_id", "state")
            .annotate(total=Count("*"))
        )
    return sorted(rows.order_by())


def domain_health_list():
    """Every From domain's last health check, with the channels sending from it."""
    from channels_app.models import DomainHealth

    return DomainHealth.objects.prefetch_related("channels").order_by("domain")
