"""Request middleware of our own."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

# Texts there are Bulletin's English; API clients parse messages, editors share screenshots.
DEFAULT_LANGUAGE_PREFIXES = ("/admin/", "/api/")


class PublicLocaleMiddleware(LocaleMiddleware):
    """Public pages in the visitor's language (Django's LocaleMiddleware: Accept-Language); a
    page about a known subscriber then switches to the subscriber's own (subscribers.views).
    Admin and the API stay in LANGUAGE_CODE."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(DEFAULT_LANGUAGE_PREFIXES):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
            return
        super().process_request(request)
