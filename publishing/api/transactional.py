"""`messages` (one transactional message, idempotent by `Idempotency-Key`) and `templates`
(versioned message templates, admin role)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.models import Channel
from core.api.permissions import requires
from core.api.schema import ErrorSerializer
from core.api.serializers import StrictInputMixin, StrictSerializer
from core.roles import Role
from publishing.services.transactional import (
    MessageRequest,
    message_send_request,
    message_template_create,
    message_template_delete,
    message_template_update,
)
from publishing.transactional_models import Message, MessageTemplate


class MessageTemplateSerializer(StrictInputMixin, serializers.ModelSerializer):
    channel = serializers.PrimaryKeyRelatedField(queryset=Channel.objects.all(), help_text="An email channel's id.")
    subject = serializers.CharField(max_length=300, help_text="Merge fields allowed.")
    body = serializers.CharField(max_length=100_000, help_text="Markdown; {{ subscriber.name }}, {{ data.<key> }}.")
    version = serializers.IntegerField(source="current_version", read_only=True)

    class Meta:
        model = MessageTemplate
        fields = ["id", "name", "description", "channel", "subject", "body", "version", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]
        validators = []


@extend_schema_view(
    create=extend_schema(
        examples=[
            OpenApiExample(
                "A receipt",
                value={
                    "name": "receipt",
                    "description": "Order receipts",
                    "channel": 1,
                    "subject": "Your order {{ data.order }}",
                    "body": 'Hello {{ subscriber.first_name|default:"there" }},\n\n**Total**: {{ data.total }}',
                },  # fmt: skip
                request_only=True,
            )
        ]
    )
)
class MessageTemplateViewSet(viewsets.ModelViewSet):
    """Message templates for `messages`. Editing the subject or body adds a version; sent messages
    keep the version they used."""

    serializer_class = MessageTemplateSerializer
    read_role = Role.EDITOR
    write_role = Role.ADMIN
    conflict_methods = ("DELETE",)
    queryset = MessageTemplate.objects.select_related("channel").order_by("name")

    def perform_create(self, serializer):
        serializer.instance = message_template_create(actor=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer):
        fields = dict(serializer.validated_data)
        serializer.instance = message_template_update(actor=self.request.user, template=serializer.instance, **fields)

    def perform_destroy(self, instance):
        message_template_delete(actor=self.request.user, template=instance)


class MessageInputSerializer(StrictSerializer):
    template = serializers.CharField(max_length=80, help_text="The template's name.")
    subscriber = serializers.IntegerField(required=False, min_value=1, help_text="A subscriber's id (or give `to`).")
    to = serializers.CharField(required=False, max_length=254, help_text="An email address (or give `subscriber`).")
    data = serializers.DictField(required=False, help_text="Values for {{ data.<key> }} merge fields.")
    category = serializers.ChoiceField(
        choices=Message.Category.choices,
        required=False,
        default=Message.Category.GENERAL,
        help_text="`security` and `account` messages reach suppressed addresses (not hard-bounced, "
        "complained or erased ones); `general` ones do not.",
    )


class MessageSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    template = serializers.CharField(source="template_version.template.name")
    template_version = serializers.IntegerField(source="template_version.version")
    subscriber = serializers.IntegerField(source="subscriber_id", allow_null=True)
    status = serializers.CharField(source="state")

    class Meta:
        model = Message
        fields = [
            "id",
            "template",
            "template_version",
            "subscriber",
            "to",
            "category",
            "status",
            "attempts",
            "provider_message_id",
            "last_error",
            "created_at",
            "sent_at",
        ]


_IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any unique string (a UUID): the same key from the same caller gets the same answer and "
    "one message, however often it is sent; reusing it with another request is a 409.",
)


class MessageCreateApi(APIView):
    """Send one message to one subscriber or address from a template, on the high-priority queue."""

    permission_classes = [requires(Role.PUBLISHER)]

    @extend_schema(
        operation_id="messages_create",
        request=MessageInputSerializer,
        parameters=[_IDEMPOTENCY],
        responses={
            202: MessageSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Idempotency-Key reused with another request."),
            422: OpenApiResponse(ErrorSerializer, description="The address is suppressed for this category."),
        },
        examples=[
            OpenApiExample(
                "Password reset to a subscriber",
                value={
                    "template": "password-reset",
                    "subscriber": 42,
                    "category": "security",
                    "data": {"reset_url": "https://app.example.com/reset/abc"},
                },  # fmt: skip
                request_only=True,
            ),
            OpenApiExample(
                "Receipt to an address",
                value={
                    "template": "receipt",
                    "to": "ada@example.com",
                    "category": "account",
                    "data": {"order": "A-1001", "total": "42.00 EUR"},
                },  # fmt: skip
                request_only=True,
            ),
            OpenApiExample(
                "Accepted",
                value={
                    "id": "msg_6f1c…",
                    "template": "receipt",
                    "template_version": 3,
                    "subscriber": None,
                    "to": "ada@example.com",
                    "category": "account",
                    "status": "queued",
                    "attempts": 0,
                    "provider_message_id": "",
                    "last_error": "",
                    "created_at": "2026-11-26T10:00:00Z",
                    "sent_at": None,
                },  # fmt: skip
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request):
        data = MessageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        message_request = MessageRequest(
            template=values["template"],
            subscriber_id=values.get("subscriber"),
            to=values.get("to", ""),
            data=values.get("data") or {},
            category=values["category"],
        )
        key = request.headers.get("Idempotency-Key")
        accepted = message_send_request(actor=request.user, request=message_request, idempotency_key=key)
        response = Response(MessageSerializer(accepted.message).data, status=status.HTTP_202_ACCEPTED)
        if accepted.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class MessageDetailApi(APIView):
    """A message's status: queued, sending, sent (with the provider's id) or failed (with the reason)."""

    permission_classes = [requires(Role.VIEWER)]

    @extend_schema(operation_id="messages_retrieve", responses=MessageSerializer)
    def get(self, request, public_id: str):
        message = get_object_or_404(Message.objects.select_related("template_version__template"), public_id=public_id)
        return Response(MessageSerializer(message).data)
