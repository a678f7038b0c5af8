"""The OpenAPI schema documents every error an operation can answer, with the error schema.

drf-spectacular documents only success responses. Every API answer in error has one shape
({"message", "extra"}, core.api.errors); which statuses an operation can give follows from how
it is built, so they are added here rather than repeated on every view:
  400  always: query parameters (NUL characters, filters) and bodies are validated
  401  always: every operation needs a token, a session or a JWT
  403  always: roles (core.api.permissions)
  404  a path parameter names an object, or a page number is out of range
  409  the view lists the method in `conflict_methods` (workflow state changed meanwhile)
  413, 415  the operation takes a body (API_MAX_BODY_BYTES; JSON only)
  429  always: per-user throttling
Request bodies of strict serializers declare `additionalProperties: false`: they refuse the rest.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination

from core.api.serializers import StrictInputMixin


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField(help_text="What went wrong, for people.")
    extra = serializers.DictField(
        help_text="Details: `fields` maps each refused field to its messages (nested like the input); "
        "`retry_after_seconds` comes with 429."
    )

    class Meta:
        ref_name = "Error"


_ALWAYS = {
    400: "Bad request: a query parameter or the body is invalid (field errors in `extra.fields`).",
    401: "Not authenticated: send a token (`Authorization: Token ...`), a session cookie or a JWT.",
    403: "Your role does not allow this.",
    429: "Too many requests: wait `extra.retry_after_seconds` (also in Retry-After).",
}
_NOT_FOUND = "No such object (or page)."
_CONFLICT = "Conflict: the object's state changed meanwhile (e.g. the audience or the workflow state)."
_BODY = {
    413: "Request body too large (API_MAX_BODY_BYTES).",
    415: "Unsupported media type: send application/json.",
}


class BulletinAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(serializer, StrictInputMixin):
            schema["additionalProperties"] = False  # unknown fields are refused (core.api.serializers)
        return schema

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_statuses().items():
            if str(code) not in responses:
                response = OpenApiResponse(response=ErrorSerializer, description=description)
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        return responses

    def _error_statuses(self) -> dict[int, str]:
        statuses = dict(_ALWAYS)
        if "{" in self.path or (self._is_list_view() and isinstance(self._get_paginator(), PageNumberPagination)):
            statuses[404] = _NOT_FOUND
        if self.method in getattr(self.view, "conflict_methods", ()):
            statuses[409] = _CONFLICT
        if self.method in ("POST", "PUT", "PATCH"):
            statuses.update(_BODY)
        return dict(sorted(statuses.items()))
