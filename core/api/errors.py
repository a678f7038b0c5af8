"""One JSON error shape for the whole API: {"message": "...", "extra": {"fields": {...}}}.

Follows HackSoft's styleguide: DRF's own errors, Django's ValidationError and our
ApplicationError all come out the same way, so clients parse one format.
"""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from core.exceptions import ApplicationError
from core.resilience import INFRA_ERRORS

logger = logging.getLogger(__name__)


def exception_handler(exc, context):
    if isinstance(exc, INFRA_ERRORS):  # our own database, Redis or broker is briefly away
        logger.warning("%s: %s: %s", context.get("view").__class__.__name__, type(exc).__name__, exc)
        response = Response(
            {
                "message": "Bulletin is briefly unable to reach its database or queue; nothing was changed. "
                "Try again in a few seconds.",
                "extra": {"retry_after_seconds": 5},
            },
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
        )
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, ApplicationError):
        return Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:  # not an API exception: let Django's 500 handling log it
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = response.data if isinstance(response.data, dict) else {"non_field_errors": response.data}
        response.data = {"message": "Validation error", "extra": {"fields": fields}}
    else:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "extra": {}}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response.data["extra"]["retry_after_seconds"] = int(exc.wait)
    return response


def json_error(message: str, http_status: int) -> Response:
    return Response({"message": message, "extra": {}}, status=http_status)


def json_error_response(message: str, http_status: int) -> JsonResponse:
    """The same error body outside DRF views (middleware, error handlers, provider webhooks)."""
    return JsonResponse({"message": message, "extra": {}}, status=http_status)


__all__ = ["exception_handler", "json_error", "json_error_response", "status"]
