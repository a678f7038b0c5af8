"""Error pages: JSON under /api/ (the API's error format), HTML elsewhere."""

from django.http import JsonResponse
from django.views import defaults


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Server error. It has been logged.", "extra": {}}, status=500)
    return defaults.server_error(request)
