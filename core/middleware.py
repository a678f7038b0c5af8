"""Request middleware of our own.

- NulCharacterMiddleware: refuse NUL characters in query strings on every page, and in API and
  admin paths and forms. PostgreSQL cannot compare or store U+0000: a filter (`?search=%00`), a
  slug in a path (`topics/news%00`) or a form field with one turned into a DataError, i.e. a 500.
  One check before any view runs makes every such request a 400 (in the API's JSON error format
  under /api/). JSON bodies are checked by the API's parser (core.api.parsers) and the SNS webhook.
  A form body it cannot read (multipart without a boundary) is refused the same way.
- PublicLocaleMiddleware: public pages in the visitor's (or subscriber's) language; admin and
  the API in LANGUAGE_CODE.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.http.multipartparser import MultiPartParserError
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from core.api.errors import json_error_response
from core.safejson import has_nul

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_LOOKUP_PATHS = ("/api/", "/admin/")
MESSAGE = "NUL characters (%00) are not allowed in the path, query parameters or form fields."


class NulCharacterMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            refused = MESSAGE if _has_nul(request) else ""
        except MultiPartParserError as exc:  # a multipart body without a boundary, say
            refused = f"The form body could not be read: {exc}"
        if refused:
            if request.path.startswith("/api/"):
                return json_error_response(refused, 400)
            return HttpResponseBadRequest(refused, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _has_nul(request: HttpRequest) -> bool:
    if _query_dict_has_nul(request.GET):
        return True
    # Paths and forms where values become lookups and JSON (API slugs and ids, admin object ids,
    # file names, JSON fields). Public pages answer a damaged signed link, and their forms refuse
    # NUL field by field (Django's form CharField), in a friendlier way than a bare 400.
    if not request.path.startswith(_LOOKUP_PATHS):
        return False
    if has_nul(request.path):
        return True
    # Reading request.POST here is what the CSRF check does next anyway.
    return request.method == "POST" and request.content_type in _FORM_TYPES and _query_dict_has_nul(request.POST)


def _query_dict_has_nul(data) -> bool:
    return any(has_nul(key, *values) for key, values in data.lists())


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
