from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.pagination import CursorPaginationById
from core.api.permissions import requires
from core.roles import Role
from subscribers.api.serializers import (
    SUBSCRIBE_ACCEPTED,
    SubscriberAcceptedSerializer,
    SubscriberCreateSerializer,
    SubscriberPreferencesSerializer,
    SubscriberSerializer,
    TopicSerializer,
)
from subscribers.http import client_ip, user_agent
from subscribers.models import ConsentRecord
from subscribers.selectors import SubscriberFilter, subscriber_list, topic_list
from subscribers.services import (
    ConsentContext,
    SubscriptionChoice,
    subscriber_erase,
    subscriber_export,
    subscriber_preferences_update,
    subscriber_subscribe,
)
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
