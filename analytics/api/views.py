"""GET analytics/engagement and analytics/performance: validated parameters, one selector, served from rollups."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.api.serializers import DateRangeSerializer, EngagementQuerySerializer
from analytics.selectors import DEFAULT_METRICS, engagement_report, engagement_tier_report, performance_report
from core.roles import Role


class EngagementApi(APIView):
    """Aggregates and a daily series of engagement metrics, filtered by dates, channels and topics."""

    read_role = Role.VIEWER

    @extend_schema(parameters=[EngagementQuerySerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = EngagementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        channels = data.get("channels") or {}
        metrics = data.get("metrics") or list(DEFAULT_METRICS)
        report = engagement_report(
            start=data["start_date"],
            end=data["end_date"],
            metrics=metrics,
            channel_ids=channels.get("channel_ids", []),
            channel_kinds=channels.get("channel_kinds", []),
            topic_ids=data.get("topics") or [],
        )
        return Response(
            {
                "start_date": data["start_date"],
                "end_date": data["end_date"],
                "channels": request.query_params.get("channels", ""),
                "topics": data.get("topics") or [],
                "metrics": metrics,
                **report,
            }
        )


class PerformanceApi(APIView):
    """Success rate and publish → hand-off latency per channel, failure reasons, recommendations."""

    read_role = Role.VIEWER

    @extend_schema(parameters=[DateRangeSerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = DateRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start_date"], query.validated_data["end_date"]
        return Response({"start_date": start, "end_date": end, **performance_report(start=start, end=end)})


class EngagementTiersApi(APIView):
    """Active subscribers per engagement tier (new, active, at risk, dormant): now, and per day
    over the range from the nightly snapshots. Thresholds are in the answer."""

    read_role = Role.VIEWER

    @extend_schema(parameters=[DateRangeSerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        query = DateRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start_date"], query.validated_data["end_date"]
        return Response({"start_date": start, "end_date": end, **engagement_tier_report(start=start, end=end)})


class MailboxProvidersApi(APIView):
    """Per mailbox provider (Gmail, Outlook, Yahoo, Apple, other): messages handed over and the
    delivery, bounce, complaint, open and click rates, over a date range."""

    read_role = Role.VIEWER

    @extend_schema(parameters=[DateRangeSerializer], responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        from analytics.provider_selectors import mailbox_provider_report

        query = DateRangeSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        start, end = query.validated_data["start_date"], query.validated_data["end_date"]
        return Response({"start_date": start, "end_date": end, **mailbox_provider_report(start=start, end=end)})
