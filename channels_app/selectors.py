"""Reads of channels_app that feed the API and admin."""

from __future__ import annotations

from django.db.models import QuerySet

from channels_app.models import Channel, Delivery, Send


def channel_list() -> QuerySet[Channel]:
    return Channel.objects.select_related("fallback").prefetch_related("topics").order_by("name")


def send_list() -> QuerySet[Send]:
    return Send.objects.select_related("publication").order_by("-created_at")


def dead_letters() -> QuerySet[Delivery]:
    return Delivery.objects.filter(state=Delivery.State.DEAD).select_related("send", "channel").defer("context")
