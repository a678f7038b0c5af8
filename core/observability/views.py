"""GET /metrics: Prometheus text for scrapers holding METRICS_TOKEN (Authorization: Bearer) or
calling from METRICS_ALLOWED_NETWORKS (REMOTE_ADDR, so put it behind no proxy or list the
proxy). Anyone else gets 403; with neither configured, only loopback may scrape."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.observability.collectors import BulletinCollector
from core.observability.metrics import exposition


@never_cache
@require_GET
def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("Metrics are for configured scrapers (METRICS_TOKEN or METRICS_ALLOWED_NETWORKS).")
    return HttpResponse(exposition([BulletinCollector()]), content_type=CONTENT_TYPE_LATEST)


def _allowed(request) -> bool:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in settings.METRICS_ALLOWED_NETWORKS)
