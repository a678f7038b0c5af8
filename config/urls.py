from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core import health, sinks
from core.admin_views import outbox_message, outbox_view
from core.media import media_file
from core.observability import views as observability_views
from publishing.admin.images import image_upload_view
from publishing.views import home_view

urlpatterns = [
    # First: tracking hits are the busiest public requests (open pixel, click redirect).
    path("", include("analytics.urls")),
    path("", home_view, name="home"),
    path("health", health.liveness, name="health"),
    path("health/ready", health.readiness, name="health-ready"),
    path("metrics", observability_views.metrics, name="metrics"),
    path("admin/outbox/", admin.site.admin_view(outbox_view), name="admin-outbox"),
    path("admin/outbox/<str:name>", admin.site.admin_view(outbox_message), name="admin-outbox-message"),
    path("admin/publishing/images/", admin.site.admin_view(image_upload_view), name="admin-image-upload"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's settings as a script file: no inline script under the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/publishing/", include("config.api_router")),
    path("", include("subscribers.urls")),
    path("", include("publishing.urls")),
    re_path(r"^media/(?P<path>.+)$", media_file, name="media"),
    re_path(r"^dev/sinks/(?P<kind>[a-z][a-z0-9_]*)/(?P<method>[\w./-]*)$", sinks.sink, name="dev-sink"),
]

if settings.DEBUG:
    from django.contrib.staticfiles.urls import staticfiles_urlpatterns

    urlpatterns += staticfiles_urlpatterns()

handler400 = "core.views.bad_request"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
