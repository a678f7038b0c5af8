"""URLs of config.settings.bench: the whole site plus the benchmark's baseline views.

They exist only under the bench settings (ROOT_URLCONF), never in config/urls.py.
"""

from django.urls import path, re_path

from bench import views
from config.urls import handler404, handler500  # noqa: F401
from config.urls import urlpatterns as site_urlpatterns

urlpatterns = [
    path("bench/empty", views.empty_view),
    re_path(r"^bench/naive/t/o/(?P<token>[^/]+)\.gif$", views.naive_open_view),
    re_path(r"^bench/naive/t/c/(?P<token>[^/]+)$", views.naive_click_view),
    *site_urlpatterns,
]
