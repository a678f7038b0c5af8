"""Public analytics URLs. The tracking paths are a contract with analytics/links.py, which
formats them without reversing (tests check both agree)."""

from django.urls import re_path

from analytics import views

app_name = "analytics"

urlpatterns = [
    re_path(r"^t/o/(?P<token>[^/]+)\.gif$", views.open_pixel_view, name="open"),
    re_path(r"^t/c/(?P<token>[^/]+)$", views.click_view, name="click"),
]
