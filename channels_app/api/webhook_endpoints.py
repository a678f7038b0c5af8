"""`webhook-endpoints`: where other systems receive Bulletin's events (admin role; the secret
is write-only, shown once in the answer to a create that generated it)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from channels_app.event_models import EventDelivery, EventType, WebhookEndpoint
from channels_app.services.events import webhook_endpoint_create, webhook_endpoint_delete, webhook_endpoint_update
from core.api.serializers import StrictInputMixin
from core.roles import Role


class WebhookEndpointSerializer(StrictInputMixin, serializers.ModelSerializer):
    secret = serializers.CharField(
        write_only=True,
        required=False,
        max_length=200,
        help_text="Standard Webhooks secret (`whsec_` + base64 of at least 16 bytes). Left out on create: "
        "one is generated and returned once as `generated_secret`. Never returned otherwise.",
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices), allow_empty=False, max_length=len(EventType.values)
    )
    url = serializers.URLField(max_length=500)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "secret",
            "event_types",
            "is_active",
            "disabled_reason",
            "circuit_state",
            "circuit_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "disabled_reason", "circuit_state", "circuit_reason", "created_at", "updated_at"]
        validators = []  # the unique name is checked by the service, which names the field


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    generated_secret = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Only when Bulletin generated the secret: store it now, it is never shown again.",
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "generated_secret"]


class EventDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = EventDelivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "state",
            "attempts",
            "next_attempt_at",
            "last_status",
            "last_error",
            "delivered_at",
            "created_at",
        ]


_EXAMPLE = {
    "name": "CRM sync",
    "url": "https://crm.example.com/hooks/bulletin",
    "event_types": ["subscriber.created", "subscriber.confirmed", "subscriber.unsubscribed"],
}


@extend_schema_view(
    create=extend_schema(
        responses={201: WebhookEndpointCreatedSerializer},
        examples=[OpenApiExample("Subscribe a CRM to subscriber events", value=_EXAMPLE, request_only=True)],
    ),
)
class WebhookEndpointViewSet(viewsets.ModelViewSet):
    """Outbound event endpoints: each event is POSTed signed per Standard Webhooks (`webhook-id`,
    `webhook-timestamp`, `webhook-signature`), retried with backoff, in order per subscriber."""

    serializer_class = WebhookEndpointSerializer
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    queryset = WebhookEndpoint.objects.all()

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        endpoint = webhook_endpoint_create(actor=request.user, **data)
        body = WebhookEndpointCreatedSerializer(endpoint).data
        body["generated_secret"] = endpoint.secret if not data.get("secret") else None
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = webhook_endpoint_update(
            actor=self.request.user, endpoint=serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        webhook_endpoint_delete(actor=self.request.user, endpoint=instance)

    @extend_schema(responses=EventDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The delivery log: this endpoint's events, newest first, with state, attempts and last answer."""
        endpoint = self.get_object()
        rows = EventDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-pk")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(EventDeliverySerializer(page, many=True).data)
