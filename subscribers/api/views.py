from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorPaginationById
from core.api.permissions import requires
from core.roles import Role
from subscribers.api.serializers import (
    SUBSCRIBE_ACCEPTED,
    SegmentPreviewInputSerializer,
    SegmentPreviewSerializer,
    SegmentSerializer,
    SegmentWriteSerializer,
    SubscriberAcceptedSerializer,
    SubscriberCreateSerializer,
    SubscriberFieldSerializer,
    SubscriberFieldWriteSerializer,
    SubscriberPreferencesSerializer,
    SubscriberSerializer,
    TopicSerializer,
)
from subscribers.http import client_ip, user_agent
from subscribers.models import ConsentRecord
from subscribers.selectors import (
    SubscriberFilter,
    segment_list,
    subscriber_field_list,
    subscriber_list,
    topic_list,
)
from subscribers.services import (
    ConsentContext,
    SubscriptionChoice,
    subscriber_erase,
    subscriber_export,
    subscriber_preferences_update,
    subscriber_subscribe,
)
from subscribers.services.segments import (
    segment_create,
    segment_delete,
    segment_preview,
    segment_update,
    subscriber_field_create,
    subscriber_field_delete,
    subscriber_field_update,
)
from subscribers.services.topics import topic_delete, topic_update
from subscribers.validators import email_normalize


class TopicViewSet(viewsets.ModelViewSet):
    """Topics subscribers choose from; editors manage them."""

    serializer_class = TopicSerializer
    lookup_field = "slug"
    read_role = Role.VIEWER
    write_role = Role.EDITOR
    pagination_class = None

    def get_queryset(self):
        return topic_list()

    def perform_update(self, serializer):  # a new slug is carried into the segments naming it
        serializer.instance = topic_update(
            topic=serializer.instance, actor=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):  # refused while a segment names it
        topic_delete(topic=instance, actor=self.request.user)


def _api_context(request, source: str = "") -> ConsentContext:
    return ConsentContext(
        method=ConsentRecord.Method.API,
        source=source or f"API ({request.user})",
        ip_address=client_ip(request),
        user_agent=user_agent(request),
        actor=request.user,
    )


class SubscriberViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Subscribers. Reading needs the viewer role; creating (always with double opt-in) the
    editor role, creating already-confirmed subscribers and changing preferences the publisher
    role, and erasure (DELETE) the admin role."""

    serializer_class = SubscriberSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SubscriberFilter
    pagination_class = CursorPaginationById
    read_role = Role.VIEWER
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Erasure destroys personal data for good: the admin role only, like user management
    # (a publisher can unsubscribe or suppress an address, which is reversible).
    _action_roles = {"create": Role.EDITOR, "partial_update": Role.PUBLISHER, "destroy": Role.ADMIN}

    def get_queryset(self):
        return subscriber_list()

    def get_permissions(self):
        role = self._action_roles.get(self.action)
        return [requires(role)()] if role else super().get_permissions()

    @extend_schema(
        request=SubscriberCreateSerializer,
        responses={202: SubscriberAcceptedSerializer},
        description="Create or update by email. Always 202 with the same body, whether the address was new, "
        "pending, active, unsubscribed or suppressed: the answer never tells whether it was known. New addresses "
        "get a confirmation email (`confirmed`, publisher role: no email, recorded as consent). For an existing "
        "subscriber only a publisher changes the profile or adds topics; anyone else's topics reach the owner "
        "as opt-in links. Unsubscribed addresses go through double opt-in again; bounced, complained and "
        "suppressed ones are left alone. Look the subscriber up with `GET subscribers?search=`.",
    )
    def create(self, request):
        serializer = SubscriberCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscriber_subscribe(
            email=data["email"],
            topics=data.get("topics", []),
            profile={k: data[k] for k in ("name", "timezone", "locale", "attributes") if k in data},
            wording=data.get("consent_wording", ""),
            confirmed=data["confirmed"],
            context=_api_context(request, data.get("source", "")),
        )
        body = {"email": email_normalize(data["email"]), "message": SUBSCRIBE_ACCEPTED}
        return Response(SubscriberAcceptedSerializer(body).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=SubscriberPreferencesSerializer, responses={200: SubscriberSerializer})
    def partial_update(self, request, pk=None):
        subscriber = self.get_object()
        serializer = SubscriberPreferencesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        choices = [SubscriptionChoice(**choice) for choice in changes.pop("subscriptions", [])]
        subscriber_preferences_update(
            subscriber=subscriber, changes=changes, subscriptions=choices, context=_api_context(request)
        )
        return Response(SubscriberSerializer(self.get_queryset().get(pk=subscriber.pk)).data)

    @extend_schema(responses={204: OpenApiResponse(description="Erased; the address stays suppressed by hash.")})
    def destroy(self, request, pk=None):
        subscriber_erase(subscriber=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriberExportApi(APIView):
    """GDPR export: everything held on one subscriber, deliveries and engagement events included."""

    # Same reasoning as erasure: a full copy of someone's personal data, admin role only.
    permission_classes = [requires(Role.ADMIN)]

    @extend_schema(responses={200: OpenApiResponse(description="JSON document of the subscriber's data.")})
    def get(self, request, pk: int):
        subscriber = get_object_or_404(subscriber_list(), pk=pk)
        return Response(subscriber_export(subscriber=subscriber))


class SegmentViewSet(viewsets.ModelViewSet):
    """Segments: saved live filters. Viewers read; editors create, change and delete them
    (publishers send to them: see publications' `segment` and `exclude_segment`)."""

    serializer_class = SegmentSerializer
    read_role = Role.VIEWER
    write_role = Role.EDITOR
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return segment_list()

    @extend_schema(request=SegmentWriteSerializer, responses={201: SegmentSerializer})
    def create(self, request):
        data = SegmentWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = segment_create(actor=request.user, **data.validated_data)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SegmentWriteSerializer, responses=SegmentSerializer)
    def update(self, request, pk=None, partial=False):
        data = SegmentWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        segment = segment_update(segment=self.get_object(), actor=request.user, **data.validated_data)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(request=SegmentWriteSerializer, responses=SegmentSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="In use by a publication or topic.")})
    def destroy(self, request, pk=None):
        segment_delete(segment=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentPreviewApi(APIView):
    """GET: how many mailable subscribers a saved segment selects now, and a page of them
    (`?page=`). POST to segments/preview: the same for an unsaved tree (the admin editor)."""

    permission_classes = [requires(Role.VIEWER)]

    @extend_schema(
        parameters=[OpenApiParameter("page", int, description="1-based page.")],
        responses=SegmentPreviewSerializer,
    )
    def get(self, request, pk: int):
        segment = get_object_or_404(segment_list(), pk=pk)
        raw = request.query_params.get("page", "1")  # query parameters are text; the serializer takes numbers
        page = SegmentPreviewInputSerializer(data={"rules": segment.rules, "page": int(raw) if raw.isdigit() else raw})
        page.is_valid(raise_exception=True)
        return Response(segment_preview(rules=segment.rules, page=page.validated_data["page"]))


class SegmentDraftPreviewApi(APIView):
    """Count and sample an unsaved tree (editor): the admin segment editor calls it as you type."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(request=SegmentPreviewInputSerializer, responses=SegmentPreviewSerializer)
    def post(self, request):
        data = SegmentPreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(segment_preview(**data.validated_data))


class SubscriberFieldViewSet(viewsets.ModelViewSet):
    """Custom fields (typed attributes). Viewers read; publishers define, change and delete them."""

    serializer_class = SubscriberFieldSerializer
    read_role = Role.VIEWER
    write_role = Role.PUBLISHER
    pagination_class = None
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return subscriber_field_list()

    @extend_schema(request=SubscriberFieldWriteSerializer, responses={201: SubscriberFieldSerializer})
    def create(self, request):
        data = SubscriberFieldWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        field = subscriber_field_create(actor=request.user, **data.validated_data)
        return Response(SubscriberFieldSerializer(field).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=SubscriberFieldWriteSerializer, responses=SubscriberFieldSerializer)
    def partial_update(self, request, pk=None):
        data = SubscriberFieldWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        field = subscriber_field_update(field=self.get_object(), actor=request.user, **data.validated_data)
        return Response(SubscriberFieldSerializer(field).data)

    @extend_schema(responses={204: None, 409: OpenApiResponse(description="Used by a segment.")})
    def destroy(self, request, pk=None):
        subscriber_field_delete(field=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
