"""Input serializers that accept exactly what the OpenAPI schema says.

DRF coerces: `"title": 0` becomes "0", `"is_public": 0` becomes False, `"channel": "3"` finds
channel 3. The schema promises a string, a boolean, an integer, so a client that relies on the
coercion is relying on something undocumented. Request bodies are JSON (core.api.parsers), so
each field takes its JSON type only, and a field the serializer does not know is an error.
"""

from __future__ import annotations

import re
from typing import Any

from django.http import QueryDict
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

_NUMBER = (int, float)
_LISTS = (
    serializers.ListField,
    serializers.ListSerializer,
    serializers.ManyRelatedField,
    serializers.MultipleChoiceField,
)


def _expected(field: serializers.Field) -> tuple[tuple[type, ...], str] | None:
    """The JSON types a field accepts, None when any value may reach the field's own checks."""
    if isinstance(field, serializers.JSONField | serializers.HiddenField):
        return None
    if isinstance(field, serializers.BooleanField):
        return (bool,), "a boolean (true or false)"
    if isinstance(field, serializers.IntegerField | serializers.PrimaryKeyRelatedField):
        return (int,), "an integer"
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return _NUMBER, "a number"
    if isinstance(
        field,
        serializers.ListField
        | serializers.ListSerializer
        | serializers.ManyRelatedField
        | serializers.MultipleChoiceField,
    ):
        return (list,), "a list"
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,), "an object"
    if isinstance(field, serializers.ChoiceField) and not all(isinstance(key, str) for key in field.choices):
        return None
    return (str,), "a string"


def json_type_error(field: serializers.Field, value: Any) -> str | None:
    """Why `value` is not of the JSON type `field` takes (None when it is, or is null)."""
    expected = _expected(field)
    if value is None or expected is None:
        return None
    types, name = expected
    if isinstance(value, bool) and bool not in types:
        return f"Must be {name}, not a boolean."
    return None if isinstance(value, types) else f"Must be {name}."


class StrictInputMixin:
    """Refuse unknown fields and values of another JSON type than the field's (JSON bodies
    only: query parameters are strings by nature)."""

    def to_internal_value(self, data):
        if isinstance(data, dict) and not isinstance(data, QueryDict):
            errors = {name: ["Unknown field."] for name in sorted(set(data) - set(self.fields))}
            for name, field in self.fields.items():
                problem = None if field.read_only or name not in data else json_type_error(field, data[name])
                if problem:
                    errors[name] = [problem]
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


class StrictSerializer(StrictInputMixin, serializers.Serializer):
    """The base of every input serializer: what it does not declare, it refuses."""


WALL_CLOCK_PATTERN = r"^([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"


@extend_schema_field({"type": "string", "pattern": WALL_CLOCK_PATTERN, "example": "21:00"})
class WallClockTimeField(serializers.TimeField):
    """A time of day on someone's own clock (quiet hours, "wait until 09:00"): HH:MM or
    HH:MM:SS, never an offset. DRF's TimeField took "21:00+05:00" and dropped the offset, and
    the schema said `format: time`, which in JSON Schema (RFC 3339) requires one, so every time
    we returned broke the schema. Every model TimeField in the API is one of these (core.apps)."""

    default_error_messages = {"invalid": "A local time as HH:MM (no offset: it is read on each subscriber's clock)."}

    def to_internal_value(self, value):
        if isinstance(value, str) and not re.fullmatch(WALL_CLOCK_PATTERN, value):
            self.fail("invalid")
        return super().to_internal_value(value)


@extend_schema_field({"oneOf": [{"type": "string", "format": "uri"}, {"type": "string", "maxLength": 0}]})
class URLOrBlankField(serializers.URLField):
    """A URL, or "" when there is none (a blank model URLField): the schema says both."""


class QueryParamsSerializer(serializers.Serializer):
    """Query parameters: one given blank (`?start_date=`) is an error unless the field takes
    blank text. DRF reads it as "not given", while the schema says a date (say) is expected."""

    def to_internal_value(self, data):
        blank = [
            name
            for name, field in self.fields.items()
            if name in data and data.get(name) == "" and not getattr(field, "allow_blank", False)
        ]
        if blank:
            raise serializers.ValidationError({name: ["Give a value, or leave the parameter out."] for name in blank})
        return super().to_internal_value(data)
