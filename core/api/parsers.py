"""The API's one request parser: JSON, read within a size cap and parsed within a depth limit,
with NUL characters refused in every string and key.

DRF's JSONParser reads the whole stream (Django's DATA_UPLOAD_MAX_MEMORY_SIZE does not apply
to it), lets RecursionError through as a 500 and hands U+0000 to PostgreSQL, which refuses it
with another 500. Here each is a 4xx in the API's error format before any view code runs.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

from core.safejson import JSONNulError, UnsafeJSONError, json_loads_bounded


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "too_large"


def body_too_large_message() -> str:
    return f"Request body too large: at most {settings.API_MAX_BODY_BYTES} bytes."


def read_capped(stream, meta) -> bytes:
    """The request body, or RequestTooLarge past API_MAX_BODY_BYTES (declared or actually sent)."""
    limit = settings.API_MAX_BODY_BYTES
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise RequestTooLarge(body_too_large_message())
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise RequestTooLarge(body_too_large_message())
    return raw


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        raw = read_capped(stream, request.META if request is not None else {})
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            return json_loads_bounded(raw.decode(encoding), max_depth=settings.API_MAX_JSON_DEPTH)
        except JSONNulError as exc:
            raise exceptions.ValidationError({exc.path or "non_field_errors": [exc.message]})
        except UnsafeJSONError as exc:
            raise exceptions.ParseError(exc.message)
        except (ValueError, LookupError) as exc:  # malformed JSON, undecodable bytes, unknown charset
            raise exceptions.ParseError(f"JSON parse error - {exc}")
