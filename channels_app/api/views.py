import dataclasses

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.api.serializers import (
    ChannelSerializer,
    ChannelTestInputSerializer,
    ChannelTestOutputSerializer,
    ChannelUpdateSerializer,
    DeliveryFilterSerializer,
    DeliverySerializer,
    SendSerializer,
    WarmupInputSerializer,
)
from channels_app.selectors import channel_list, send_deliveries, send_list
from channels_app.services.channels import channel_create, channel_update
from channels_app.services.routing import channel_delete_check
from channels_app.services.sends import deliveries_requeue, send_cancel, send_pause, send_resume
from channels_app.services.testsend import TestSendResult, channel_test_send
from core.api.permissions import requires
from core.api.schema import ErrorSerializer
from core.roles import Role


class ChannelViewSet(viewsets.ModelViewSet):
    """Configured destinations. Admins manage them; credentials are write-only."""

    read_role = Role.VIEWER
    write_role = Role.ADMIN

    def get_queryset(self):
        return channel_list()

    def get_serializer_class(self):
        return ChannelUpdateSerializer if self.action in ("update", "partial_update") else ChannelSerializer

    def perform_create(self, serializer):
        serializer.instance = channel_create(**serializer.validated_data)

    def perform_update(self, serializer):
        serializer.instance = channel_update(channel=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        channel_delete_check(channel=instance)
        super().perform_destroy(instance)


class ChannelWarmupApi(APIView):
    """GET: the channel's warm-up plans with today's cap, what waits and each day's outcome.
    PUT: create or edit the plan of the channel (+ `from_domain`); admins only."""

    permission_classes = [requires(Role.VIEWER)]

    @extend_schema(
        responses={200: OpenApiResponse(description="The channel's warm-up plans: today's cap, waiting, each day.")}
    )
    def get(self, request, pk: int):
        from channels_app.services.warmup import warmup_progress

        channel = get_object_or_404(channel_list(), pk=pk)
        return Response({"plans": [warmup_progress(plan=plan) for plan in channel.warmup_plans.all()]})

    @extend_schema(request=WarmupInputSerializer, responses={200: OpenApiResponse(description="The plan's progress.")})
    def put(self, request, pk: int):
        from channels_app.services.warmup import warmup_plan_set, warmup_progress

        channel = get_object_or_404(channel_list(), pk=pk)
        data = WarmupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = warmup_plan_set(channel=channel, actor=request.user, data=data.validated_data)
        return Response(warmup_progress(plan=plan))


class ChannelTestApi(APIView):
    """Send a sample through the channel's real adapter: the provider's confirmation or its exact error."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(
        request=ChannelTestInputSerializer,
        responses={
            200: ChannelTestOutputSerializer,
            502: OpenApiResponse(ErrorSerializer, description="The provider refused it: its error in `extra.error`."),
        },
    )
    def post(self, request, pk: int):
        channel = get_object_or_404(channel_list(), pk=pk)
        data = ChannelTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return testsend_response(
            channel_test_send(channel=channel, actor=request.user, recipients=data.recipient_list())
        )


def testsend_response(results: list[TestSendResult]) -> Response:
    """200 with each recipient's confirmation, or 502 with the provider's exact error."""
    rows = [dataclasses.asdict(result) for result in results]
    failed = next((result for result in results if not result.ok), None)
    if failed is not None:
        body = {
            "message": f"The provider refused the test: {failed.error}",
            "extra": {"error": failed.error, "results": rows},
        }
        return Response(body, status=status.HTTP_502_BAD_GATEWAY)
    first = results[0]
    summary = {
        "ok": True,
        "provider_message_id": first.provider_message_id,
        "recipient": first.recipient,
        "results": rows,
    }
    return Response(ChannelTestOutputSerializer(summary).data)


class SendViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Sends with live progress (deliveries per state); publishers pause, resume, cancel, requeue."""

    serializer_class = SendSerializer
    read_role = Role.VIEWER
    write_role = Role.PUBLISHER

    def get_queryset(self):
        return send_list()

    @extend_schema(parameters=[DeliveryFilterSerializer], responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The send's deliveries (`?state=` filters), with the provider that carried each."""
        filters = DeliveryFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = self.paginate_queryset(send_deliveries(send=self.get_object(), **filters.validated_data))
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses=SendSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return Response(
            SendSerializer(
                send_pause(send=self.get_object(), reason=f"paused by {request.user}", actor=request.user)
            ).data
        )

    @extend_schema(request=None, responses=SendSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return Response(SendSerializer(send_resume(send=self.get_object(), actor=request.user)).data)

    @extend_schema(request=None, responses=SendSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        send = self.get_object()
        send_cancel(send=send, reason=f"cancelled by {request.user}", actor=request.user)
        send.refresh_from_db()
        return Response(SendSerializer(send).data)

    @extend_schema(request=None, responses=SendSerializer)
    @action(detail=True, methods=["post"])
    def requeue(self, request, pk=None):
        """Requeue the send's dead and failed deliveries (the dead-letter queue)."""
        send = self.get_object()
        deliveries_requeue(deliveries=send.deliveries.all(), actor=request.user)
        send.refresh_from_db()
        return Response(SendSerializer(send).data)
