"""Publications API (SPEC §5): CRUD, the workflow actions, preview, test send, audience, A/B test.
Views validate shapes, call one service, serialize the result; roles are checked on both sides."""

import django_filters
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from channels_app.api.serializers import ChannelTestOutputSerializer
from channels_app.api.views import testsend_response
from core.api.filters import StrictFilterSet
from core.api.permissions import requires
from core.api.schema import ErrorSerializer
from core.roles import Role
from publishing.api.serializers import (
    ABTestInputSerializer,
    ABTestSerializer,
    ChecksReportSerializer,
    PublicationDetailSerializer,
    PublicationSerializer,
    PublicationWriteSerializer,
    PublishInputSerializer,
    ReturnInputSerializer,
    TestSendInputSerializer,
)
from publishing.models import ABTest, Publication
from publishing.selectors import publication_audience_of, publication_checks_overrides, publication_list
from publishing.services.abtests import abtest_configure
from publishing.services.checks import publication_checks
from publishing.services.duplicate import publication_duplicate
from publishing.services.overlap import overlap_rows
from publishing.services.publish import publication_publish
from publishing.services.rendering import publication_preview
from publishing.services.states import (
    publication_archive,
    publication_create,
    publication_delete,
    publication_return_to_draft,
    publication_submit,
    publication_update,
)
from publishing.services.testsend import publication_test_send
from subscribers.models import Subscriber


class PublicationFilter(StrictFilterSet):
    state = django_filters.MultipleChoiceFilter(choices=Publication.State.choices)
    priority = django_filters.ChoiceFilter(choices=Publication.Priority.choices)
    topic = django_filters.CharFilter(field_name="topics__slug", help_text="Topic slug.")
    search = django_filters.CharFilter(field_name="title", lookup_expr="icontains")

    class Meta:
        model = Publication
        fields = ["state", "priority", "topic", "search"]


class PublicationViewSet(viewsets.ModelViewSet):
    """Publications. Viewers read; editors create and edit drafts (publishers edit scheduled and
    published ones too); deleting a published publication is refused (archive it)."""

    read_role = Role.VIEWER
    write_role = Role.EDITOR
    filter_backends = [DjangoFilterBackend]
    filterset_class = PublicationFilter
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return publication_list().distinct()

    def get_serializer_class(self):
        return PublicationDetailSerializer if self.action == "retrieve" else PublicationSerializer

    @extend_schema(request=PublicationWriteSerializer, responses={201: PublicationDetailSerializer})
    def create(self, request):
        data = PublicationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        publication = publication_create(actor=request.user, topics=fields.pop("topics", []), **fields)
        return _detail(publication, status.HTTP_201_CREATED)

    @extend_schema(request=PublicationWriteSerializer, responses=PublicationDetailSerializer)
    def update(self, request, pk=None, partial=False):
        data = PublicationWriteSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        publication = publication_update(
            publication=self.get_object(), actor=request.user, topics=fields.pop("topics", None), **fields
        )
        return _detail(publication)

    @extend_schema(request=PublicationWriteSerializer, responses=PublicationDetailSerializer)
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        publication_delete(publication=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _publication(pk: int) -> Publication:
    return get_object_or_404(publication_list(), pk=pk)


def _detail(publication: Publication, code: int = status.HTTP_200_OK) -> Response:
    return Response(PublicationDetailSerializer(publication_list().get(pk=publication.pk)).data, status=code)


class PublicationPublishApi(APIView):
    """Publish now, or schedule with a future `publish_at` (publisher). Publishing a published
    publication again sends nothing and answers its current state."""

    conflict_methods = ("POST",)  # the workflow state changed meanwhile (core.api.schema)
    permission_classes = [requires(Role.PUBLISHER)]

    @extend_schema(request=PublishInputSerializer, responses=PublicationDetailSerializer)
    def post(self, request, pk: int):
        data = PublishInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        publication = publication_publish(
            publication=_publication(pk),
            actor=request.user,
            publish_at=data.validated_data.get("publish_at"),
            confirmed_audience=data.validated_data.get("confirm_audience"),
            checks_override_reason=data.validated_data.get("checks_override_reason"),
        )
        return _detail(publication)


class PublicationDuplicateApi(APIView):
    """A new draft copy (editor): title "… (copy)", a new slug, the same content, topics and
    audience settings; never its state, schedule, sends or statistics."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(request=None, responses={201: PublicationDetailSerializer})
    def post(self, request, pk: int):
        copy = publication_duplicate(publication=_publication(pk), actor=request.user)
        return _detail(copy, status.HTTP_201_CREATED)


class PublicationSubmitApi(APIView):
    """Draft → in review (editor)."""

    conflict_methods = ("POST",)  # the workflow state changed meanwhile (core.api.schema)
    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(request=None, responses=PublicationDetailSerializer)
    def post(self, request, pk: int):
        return _detail(publication_submit(publication=_publication(pk), actor=request.user))


class PublicationReturnApi(APIView):
    """In review or scheduled → draft (an editor withdraws; a publisher sends back or unschedules)."""

    conflict_methods = ("POST",)  # the workflow state changed meanwhile (core.api.schema)
    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(request=ReturnInputSerializer, responses=PublicationDetailSerializer)
    def post(self, request, pk: int):
        data = ReturnInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        publication = publication_return_to_draft(
            publication=_publication(pk), actor=request.user, note=data.validated_data.get("note", "")
        )
        return _detail(publication)


class PublicationArchiveApi(APIView):
    """Published → archived (publisher)."""

    conflict_methods = ("POST",)  # the workflow state changed meanwhile (core.api.schema)
    permission_classes = [requires(Role.PUBLISHER)]

    @extend_schema(request=None, responses=PublicationDetailSerializer)
    def post(self, request, pk: int):
        return _detail(publication_archive(publication=_publication(pk), actor=request.user))


class PublicationAudienceApi(APIView):
    """Who publishing it now would reach, per channel (confirm the total when publishing)."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(responses={200: OpenApiResponse(description="channels, total, digest_subscribers, recent_overlaps")})
    def get(self, request, pk: int):
        publication = _publication(pk)
        recent = overlap_rows(publication=publication)  # published lately to an overlapping audience
        return Response({**publication_audience_of(publication=publication), "recent_overlaps": recent})


class PublicationChecksApi(APIView):
    """Pre-send checks of the email publishing it would send: spam score, links, size, images,
    unsubscribe and postal address, subject, merge fields. A `fail` blocks publishing unless
    POST .../publish carries `checks_override_reason`."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(responses={200: ChecksReportSerializer, 403: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request, pk: int):
        publication = _publication(pk)
        report = publication_checks(publication=publication, actor=request.user)
        overrides = publication_checks_overrides(publication=publication)
        return Response(ChecksReportSerializer({**report.as_json(), "overrides": overrides}).data)


class PublicationPreviewApi(APIView):
    """Every channel's message as a recipient would get it; fields in the body override the
    saved ones without saving them (a live preview of unsaved edits)."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(
        request=PublicationWriteSerializer,
        parameters=[OpenApiParameter("subscriber", int, description="Render it as this subscriber would get it.")],
        responses={200: OpenApiResponse(description="email, slack, ...")},
    )
    def post(self, request, pk: int):
        publication = _publication(pk)
        data = PublicationWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        topics = fields.pop("topics", None)
        for name, value in fields.items():
            setattr(publication, name, value)
        subscriber = _preview_subscriber(request)
        preview = publication_preview(publication=publication, topics=topics, actor=request.user, subscriber=subscriber)
        return Response(preview)


def _preview_subscriber(request) -> Subscriber | None:
    """`?subscriber=<id>`: render for that subscriber (404 when there is none)."""
    raw = request.query_params.get("subscriber")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ValidationError({"subscriber": ["A subscriber id."]})
    return get_object_or_404(Subscriber, pk=int(raw))


class PublicationTestApi(APIView):
    """Send its real rendered message through one channel's real adapter to you (editor)."""

    permission_classes = [requires(Role.EDITOR)]

    @extend_schema(
        request=TestSendInputSerializer,
        responses={
            200: ChannelTestOutputSerializer,
            502: OpenApiResponse(ErrorSerializer, description="The provider refused it: its error in `extra.error`."),
        },
    )
    def post(self, request, pk: int):
        data = TestSendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = publication_test_send(
            publication=_publication(pk),
            channel=data.validated_data["channel"],
            actor=request.user,
            recipients=data.recipient_list(),
            subscriber=data.validated_data.get("subscriber"),
        )
        return testsend_response(results)


class PublicationABTestApi(APIView):
    """The newsletter's A/B subject test and its results; PUT configures it (editor) until it
    starts, an empty `subjects` list removes it."""

    conflict_methods = ("PUT",)  # the test has started

    def get_permissions(self):
        return [requires(Role.EDITOR if self.request.method == "PUT" else Role.VIEWER)()]

    @extend_schema(responses=ABTestSerializer)
    def get(self, request, pk: int):
        test = get_object_or_404(ABTest, publication=_publication(pk))
        return Response(ABTestSerializer(test).data)

    @extend_schema(request=ABTestInputSerializer, responses=ABTestSerializer)
    def put(self, request, pk: int):
        data = ABTestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        test = abtest_configure(publication=_publication(pk), actor=request.user, **data.validated_data)
        if test is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(ABTestSerializer(test).data)
