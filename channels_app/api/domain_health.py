"""GET domain-health: each From domain's SPF, DKIM, DMARC and List-Unsubscribe readiness, with
the fix and the exact DNS record to add (read-only; the daily beat task and admin re-check)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.selectors import domain_health_list
from core.roles import Role


class DomainHealthApi(APIView):
    read_role = Role.EDITOR

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        return Response(
            {
                "domains": [
                    {
                        "domain": h.domain,
                        "status": h.status,
                        "checked_at": h.checked_at,
                        "dkim_selectors": h.dkim_selectors,
                        "channels": [c.pk for c in h.channels.all()],
                        "checks": h.checks,
                    }
                    for h in domain_health_list()
                ]
            }
        )
