"""Error pages: JSON under /api/ (the API's error format), HTML elsewhere."""

from django.views import defaults

from core.api.errors import json_error_response


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error_response("Bad request.", 400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_error_response("Not found.", 404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_error_response("Server error. It has been logged.", 500)
    return defaults.server_error(request)
