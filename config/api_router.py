"""/api/v1/publishing/: every resource of SPEC §5 registers here. Trailing slashes optional."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from analytics.api.views import EngagementApi, EngagementTiersApi, MailboxProvidersApi, PerformanceApi
from channels_app.api.domain_health import DomainHealthApi
from channels_app.api.views import ChannelTestApi, ChannelViewSet, ChannelWarmupApi, SendViewSet
from channels_app.api.webhook_endpoints import WebhookEndpointViewSet
from publishing.api.automations import AutomationEnrollApi, AutomationStatsApi, AutomationViewSet, EventCreateApi
from publishing.api.transactional import MessageCreateApi, MessageDetailApi, MessageTemplateViewSet
from publishing.api.views import (
    PublicationABTestApi,
    PublicationArchiveApi,
    PublicationAudienceApi,
    PublicationChecksApi,
    PublicationDuplicateApi,
    PublicationPreviewApi,
    PublicationPublishApi,
    PublicationReturnApi,
    PublicationSubmitApi,
    PublicationTestApi,
    PublicationViewSet,
)
from subscribers.api.views import (
    SegmentDraftPreviewApi,
    SegmentPreviewApi,
    SegmentViewSet,
    SubscriberExportApi,
    SubscriberFieldViewSet,
    SubscriberViewSet,
    TopicViewSet,
)


class OptionalSlashRouter(DefaultRouter):
    """SPEC §5 writes paths without a trailing slash; accept both forms."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("topics", TopicViewSet, basename="topic")
router.register("subscribers", SubscriberViewSet, basename="subscriber")
router.register("channels", ChannelViewSet, basename="channel")
router.register("sends", SendViewSet, basename="send")
router.register("publications", PublicationViewSet, basename="publication")
router.register("segments", SegmentViewSet, basename="segment")
router.register("subscriber-fields", SubscriberFieldViewSet, basename="subscriber-field")
router.register("webhook-endpoints", WebhookEndpointViewSet, basename="webhook-endpoint")
router.register("templates", MessageTemplateViewSet, basename="message-template")
router.register("automations", AutomationViewSet, basename="automation")

_PUBLICATION_ACTIONS = [
    ("publish", PublicationPublishApi),
    ("submit", PublicationSubmitApi),
    ("duplicate", PublicationDuplicateApi),
    ("return-to-draft", PublicationReturnApi),
    ("archive", PublicationArchiveApi),
    ("audience", PublicationAudienceApi),
    ("checks", PublicationChecksApi),
    ("preview", PublicationPreviewApi),
    ("test", PublicationTestApi),
    ("ab-test", PublicationABTestApi),
]

urlpatterns = [
    re_path(r"^analytics/engagement/?$", EngagementApi.as_view(), name="analytics-engagement"),
    re_path(r"^analytics/performance/?$", PerformanceApi.as_view(), name="analytics-performance"),
    re_path(r"^analytics/engagement-tiers/?$", EngagementTiersApi.as_view(), name="analytics-engagement-tiers"),
    re_path(r"^analytics/providers/?$", MailboxProvidersApi.as_view(), name="analytics-providers"),
    re_path(r"^domain-health/?$", DomainHealthApi.as_view(), name="domain-health"),
    re_path(r"^channels/(?P<pk>\d+)/test/?$", ChannelTestApi.as_view(), name="channel-test"),
    re_path(r"^automations/(?P<pk>\d+)/enroll/?$", AutomationEnrollApi.as_view(), name="automation-enroll"),
    re_path(r"^automations/(?P<pk>\d+)/stats/?$", AutomationStatsApi.as_view(), name="automation-stats"),
    re_path(r"^events/?$", EventCreateApi.as_view(), name="event-create"),
    re_path(r"^channels/(?P<pk>\d+)/warmup/?$", ChannelWarmupApi.as_view(), name="channel-warmup"),
    re_path(r"^messages/?$", MessageCreateApi.as_view(), name="message-create"),
    re_path(r"^messages/(?P<public_id>msg_[0-9a-f]{32})/?$", MessageDetailApi.as_view(), name="message-detail"),
    re_path(r"^subscribers/(?P<pk>[0-9]+)/export/?$", SubscriberExportApi.as_view(), name="subscriber-export"),
    re_path(r"^segments/preview/?$", SegmentDraftPreviewApi.as_view(), name="segment-draft-preview"),
    re_path(r"^segments/(?P<pk>[0-9]+)/preview/?$", SegmentPreviewApi.as_view(), name="segment-preview"),
    *[
        re_path(rf"^publications/(?P<pk>\d+)/{action}/?$", view.as_view(), name=f"publication-{action}")
        for action, view in _PUBLICATION_ACTIONS
    ],
    *router.urls,
]
