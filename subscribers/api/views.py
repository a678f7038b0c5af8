from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, viewsets

from core.roles import Role
from subscribers.api.serializers import SubscriberSerializer, TopicSerializer
from subscribers.selectors import SubscriberFilter, subscriber_list, topic_list


class TopicViewSet(viewsets.ModelViewSet):
    """Topics subscribers choose from; editors manage them."""

    serializer_class = TopicSerializer
    lookup_field = "slug"
    read_role = Role.VIEWER
    write_role = Role.EDITOR
    pagination_class = None

    def get_queryset(self):
        return topic_list()


class SubscriberViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = SubscriberSerializer
    filter_backends = [DjangoFilterBackend]
    filterset_class = SubscriberFilter
    read_role = Role.VIEWER

    def get_queryset(self):
        return subscriber_list()
