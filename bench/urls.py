"""URLs of config.settings.bench: the whole site plus the benchmark's baseline views.

They exist only under the bench settings (ROOT_URLCONF), never in config/urls.py.
"""

from django.urls import path, re_path

from analytics import views as analytics_views
from bench import views
from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("bench/empty", views.empty_view),
    re_path(r"^bench/naive/t/o/(?P<token>[^/]+)\.gif$", views.naive_open_view),
    re_path(r"^bench/naive/t/c/(?P<token>[^/]+)$", views.naive_click_view),
    # The tracking views themselves, behind Django's middleware: what a hit costs without the
    # WSGI fast path (analytics/wsgi.py), which answers /t/o/ and /t/c/ only.
    re_path(r"^bench/django/t/o/(?P<token>[^/]+)\.gif$", analytics_views.open_pixel_view),
    re_path(r"^bench/django/t/c/(?P<token>[^/]+)$", analytics_views.click_view),
    *site_urlpatterns,
]
