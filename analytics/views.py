"""Public endpoints of analytics: the open pixel, the click redirect, the sunset "keep me" link.

They validate, call one service and answer at once; the hit is written later, in bulk.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from analytics.services.sunset import sunset_keep, sunset_keep_subscriber
from analytics.services.tracking import PIXEL_GIF, tracking_click_resolve, tracking_open_record
from subscribers.i18n import subscriber_language

NO_CACHE_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate, private, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}


@require_http_methods(["GET", "HEAD"])
def open_pixel_view(request: HttpRequest, token: str) -> HttpResponse:
    tracking_open_record(token=token, user_agent=_user_agent(request), head=request.method == "HEAD")
    return HttpResponse(PIXEL_GIF, content_type="image/gif", headers=NO_CACHE_HEADERS)


@require_http_methods(["GET", "HEAD"])
def click_view(request: HttpRequest, token: str) -> HttpResponse:
    url = tracking_click_resolve(token=token, user_agent=_user_agent(request), head=request.method == "HEAD")
    if url is None:
        response = render(request, "analytics/link_invalid.html", status=404)
    else:
        response = HttpResponseRedirect(url)
        response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = NO_CACHE_HEADERS["Cache-Control"]
    return response


@never_cache
@require_http_methods(["GET", "POST"])
def sunset_keep_view(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button and changes nothing (link scanners open every link); its POST, with
    CSRF, keeps the subscriber. Same pattern as the unsubscribe page."""
    if request.method == "POST":
        subscriber = sunset_keep(token=token)
        template = "analytics/kept.html"
    else:
        subscriber = sunset_keep_subscriber(token=token)
        template = "analytics/keep.html"
    language = subscriber_language(subscriber) if subscriber else translation.get_language()
    with translation.override(language):
        return render(request, template, {"subscriber": subscriber}, status=200 if subscriber else 404)


def _user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")
