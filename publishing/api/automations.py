"""`automations` (CRUD, editors manage), `automations/{id}/enroll`, `automations/{id}/stats` and
`events` (custom triggers)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.permissions import requires
from core.api.schema import ErrorSerializer
from core.api.serializers import StrictInputMixin, StrictSerializer
from core.roles import Role
from publishing.automation_models import Automation, AutomationStep, AutomationStepKind, AutomationTrigger
from publishing.services.automations.definitions import automation_create, automation_delete, automation_update
from publishing.services.automations.enroll import automation_enroll, custom_event_post
from publishing.services.automations.stats import automation_step_stats
from publishing.transactional_models import MessageTemplate
from subscribers.models import Segment, Subscriber, Topic


class AutomationStepSerializer(StrictInputMixin, serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=AutomationStepKind.choices)
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=MessageTemplate.objects.all(), required=False, allow_null=True,
        help_text="send: a message template's name.",
    )  # fmt: skip
    topic = serializers.SlugRelatedField(
        slug_field="slug", queryset=Topic.objects.all(), required=False, allow_null=True, help_text="A topic's slug."
    )
    segment = serializers.PrimaryKeyRelatedField(queryset=Segment.objects.all(), required=False, allow_null=True)
    field_value = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = AutomationStep
        fields = [
            "position", "kind", "template", "wait", "local_time", "segment", "engagement", "topic", "field_key",
            "field_value", "if_true", "if_false",
        ]  # fmt: skip
        read_only_fields = ["position"]
        validators = []


class AutomationSerializer(StrictInputMixin, serializers.ModelSerializer):
    trigger = serializers.ChoiceField(choices=AutomationTrigger.choices)
    trigger_config = serializers.DictField(required=False, help_text="What the trigger listens for (see README).")
    steps = AutomationStepSerializer(many=True, required=False)
    version = serializers.IntegerField(source="current_version.number", read_only=True, allow_null=True)

    class Meta:
        model = Automation
        fields = [
            "id", "name", "description", "trigger", "trigger_config", "is_active", "quiet_hours_start",
            "quiet_hours_end", "steps", "version", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "version", "created_at", "updated_at"]
        validators = []
        extra_kwargs = {"name": {"validators": []}}


_EXAMPLE = {
    "name": "Welcome",
    "trigger": "confirmed",
    "is_active": True,
    "steps": [
        {"kind": "send", "template": "welcome"},
        {"kind": "wait", "wait": "2 00:00:00"},
        {"kind": "wait_until", "local_time": "09:00"},
        {"kind": "send", "template": "tips"},
    ],
}


@extend_schema_view(
    create=extend_schema(examples=[OpenApiExample("A welcome series", value=_EXAMPLE, request_only=True)])
)
class AutomationViewSet(viewsets.ModelViewSet):
    """Automations: steps started by a trigger. Changing the steps makes a new version for new
    entrants; subscribers in flight finish the version they entered."""

    serializer_class = AutomationSerializer
    read_role = Role.VIEWER
    write_role = Role.EDITOR
    conflict_methods = ("DELETE",)
    queryset = Automation.objects.select_related("current_version").prefetch_related("steps").order_by("name")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        steps = [dict(step) for step in data.pop("steps", [])]
        serializer.instance = automation_create(actor=self.request.user, steps=steps, **data)

    def perform_update(self, serializer):
        data = dict(serializer.validated_data)
        steps = [dict(step) for step in data.pop("steps")] if "steps" in data else None
        serializer.instance = automation_update(
            actor=self.request.user, automation=serializer.instance, steps=steps, **data
        )

    def perform_destroy(self, instance):
        automation_delete(actor=self.request.user, automation=instance)


class EnrollInputSerializer(StrictSerializer):
    subscriber = serializers.IntegerField(min_value=1, help_text="The subscriber's id.")
    data = serializers.DictField(required=False, help_text="Values for {{ data.<key> }} in its messages.")


class EnrollmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subscriber = serializers.IntegerField(source="subscriber_id")
    version = serializers.IntegerField(source="version.number")
    position = serializers.IntegerField()
    state = serializers.CharField()
    due_at = serializers.DateTimeField()


class AutomationEnrollApi(APIView):
    """Put one subscriber into this automation now (whatever its trigger); once per automation."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(
        operation_id="automations_enroll",
        request=EnrollInputSerializer,
        responses={
            201: EnrollmentSerializer,
            400: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Already walked it, or it has no steps."),
        },
        examples=[OpenApiExample("Enroll", value={"subscriber": 42}, request_only=True)],
    )
    def post(self, request, pk: int):
        automation = get_object_or_404(Automation, pk=pk)
        payload = EnrollInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        subscriber = Subscriber.objects.filter(pk=payload.validated_data["subscriber"]).first()
        if subscriber is None:
            raise serializers.ValidationError({"subscriber": ["No such subscriber."]})
        enrollment = automation_enroll(
            actor=request.user, automation=automation, subscriber=subscriber, data=payload.validated_data.get("data")
        )
        return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)


class EventInputSerializer(StrictSerializer):
    subscriber = serializers.IntegerField(min_value=1, help_text="The subscriber's id.")
    name = serializers.CharField(max_length=80, help_text="The event's name, e.g. trial.started.")
    data = serializers.DictField(required=False, help_text="Kept with the walk: {{ data.<key> }} in its messages.")


class EventAcceptedSerializer(serializers.Serializer):
    entered = serializers.IntegerField(help_text="How many automations the subscriber entered.")


class EventCreateApi(APIView):
    """A custom event: enters the subscriber into every active automation listening for its name."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(
        operation_id="events_create",
        request=EventInputSerializer,
        responses={202: EventAcceptedSerializer, 400: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Trial started",
                value={"subscriber": 42, "name": "trial.started", "data": {"plan": "pro"}},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        payload = EventInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        values = payload.validated_data
        entered = custom_event_post(
            actor=request.user, subscriber_id=values["subscriber"], name=values["name"], data=values.get("data")
        )
        return Response({"entered": entered}, status=status.HTTP_202_ACCEPTED)


class AutomationStepStatsSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    position = serializers.IntegerField(help_text="The step; the position past the last step counts completions.")
    kind = serializers.CharField()
    entered = serializers.IntegerField()
    sent = serializers.IntegerField()
    opened = serializers.IntegerField(help_text="Distinct deliveries opened (machine opens not counted).")
    clicked = serializers.IntegerField()
    exited = serializers.IntegerField()
    here = serializers.IntegerField(help_text="Subscribers at this step now.")


class AutomationStatsApi(APIView):
    """Per version and step: entered, sent, opened, clicked, exited, and who is here now."""

    permission_classes = [requires(Role.VIEWER)]

    @extend_schema(operation_id="automations_stats", responses={200: AutomationStepStatsSerializer(many=True)})
    def get(self, request, pk: int):
        automation = get_object_or_404(Automation, pk=pk)
        return Response(AutomationStepStatsSerializer(automation_step_stats(automation=automation), many=True).data)
