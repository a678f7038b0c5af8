from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core import health, sinks
from core.admin_views import outbox_message, outbox_view

urlpatterns = [
    # First: tracking hits are the busiest public requests (open pixel, click redirect).
    path("", include("analytics.urls")),
    path("health", health.liveness, name="health"),
    path("health/ready", health.readiness, name="health-ready"),
    path("admin/outbox/", admin.site.admin_view(outbox_view), name="admin-outbox"),
    path("admin/outbox/<str:name>", admin.site.admin_view(outbox_message), name="admin-outbox-message"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/publishing/", include("config.api_router")),
    path("", include("subscribers.urls")),
    path("", include("publishing.urls")),
    re_path(r"^dev/sinks/(?P<kind>[a-z][a-z0-9_]*)/(?P<method>[\w./-]*)$", sinks.sink, name="dev-sink"),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
