"""Error pages: JSON under /api/ (the API's error format), HTML elsewhere."""

import sys

from django.http import HttpResponse
from django.views import defaults

from core.api.errors import json_error_response
from core.resilience import INFRA_ERRORS

UNAVAILABLE = "Bulletin is briefly unable to reach its database or queue. Try again in a few seconds."
RETRY_AFTER_SECONDS = 5


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error_response("Bad request.", 400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error_response("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """Django calls this with the uncaught exception still being handled: one of our own
    services briefly away (PostgreSQL restarting, Redis down) is a 503 with a retry hint, on
    every page (admin included) and wherever it was raised (a view or a middleware)."""
    if isinstance(sys.exc_info()[1], INFRA_ERRORS):
        return _unavailable(request)
    if request.path.startswith("/api/"):
        return json_error_response("Server error. It has been logged.", 500)
    return defaults.server_error(request)


def _unavailable(request):
    if request.path.startswith("/api/"):
        response = json_error_response(UNAVAILABLE, 503)
    else:  # plain HTML: rendering a template could need the database that is away
        page = f"<!doctype html><title>Briefly unavailable</title><h1>Briefly unavailable</h1><p>{UNAVAILABLE}</p>"
        response = HttpResponse(page, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
