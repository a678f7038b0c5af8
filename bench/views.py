"""Baselines for bench/tracking_bench.py, routed only by bench/urls.py (config.settings.bench).

empty_view    the cheapest Django response through the same middleware: the ceiling
naive_*_view  tracking done naively: the same token check and link lookup, then one INSERT
              per hit in the request (what the Redis buffer avoids)
"""

from __future__ import annotations

import uuid

from django.http import HttpResponse, HttpResponseNotFound, HttpResponseRedirect
from django.utils import timezone

from analytics.links import InvalidTrackingToken, click_token_read, open_token_read
from analytics.models import EngagementEvent
from analytics.services.tracking import PIXEL_GIF, send_links


def empty_view(request):
    return HttpResponse(b"ok", content_type="text/plain")


def naive_open_view(request, token):
    try:
        delivery_id = open_token_read(token)
    except InvalidTrackingToken:
        return HttpResponse(PIXEL_GIF, content_type="image/gif")
    _insert(delivery_id, "open", {"ua": request.META.get("HTTP_USER_AGENT", "")[:300]})
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


def naive_click_view(request, token):
    try:
        target = click_token_read(token)
    except InvalidTrackingToken:
        return HttpResponseNotFound()
    links = send_links(send_id=target.send_id)
    if target.link_index >= len(links):
        return HttpResponseNotFound()
    _insert(target.delivery_id, "click", {"link": links[target.link_index]})
    return HttpResponseRedirect(links[target.link_index])


def _insert(delivery_id: int, kind: str, metadata: dict) -> None:
    EngagementEvent.objects.create(
        delivery_id=delivery_id,
        kind=kind,
        occurred_at=timezone.now(),
        metadata=metadata,
        dedupe_key=f"naive:{uuid.uuid4().hex}",
    )
