"""Admin shows and reads times in the signed-in editor's own time zone (EditorProfile)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class AdminTimezoneMiddleware:
    """After AuthenticationMiddleware: activate the user's zone for /admin/ requests only; the
    API and public pages keep settings.TIME_ZONE."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if not request.path.startswith("/admin/") or not getattr(user, "is_authenticated", False):
            return self.get_response(request)
        from publishing.services.timezones import editor_time_zone

        timezone.activate(editor_time_zone(user))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
