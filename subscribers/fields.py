"""Custom fields: how a value of each type is read from outside (CSV cell, JSON, form) and stored.

Stored forms in `Subscriber.attributes` (what segments compare and merge fields print):
    text    a string (at most ATTRIBUTE_MAX_LENGTH characters)
    number  a JSON number (not a boolean)
    date    an ISO date string, YYYY-MM-DD
    boolean true / false (CSV and forms accept yes/no, true/false, 1/0)
    choice  one of the field's choices, as a string
Keys without a SubscriberField keep being stored as given (text from CSV): only defined fields
are typed, and only defined fields can be used in segments.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError

from subscribers.models import FieldType, SubscriberField

ATTRIBUTE_MAX_LENGTH = 1000
KEY_PATTERN = re.compile(r"^[a-z](_?[a-z0-9]){0,48}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE, _FALSE = {"true", "yes", "y", "1", "on"}, {"false", "no", "n", "0", "off"}


def field_value_clean(field: SubscriberField | FieldSpec, value: Any) -> Any:
    """The stored form of `value` for `field`, or ValidationError saying why it is not one.
    None and "" clear the value (returned as None)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    kind = field.type
    if kind == FieldType.NUMBER:
        return _number(value)
    if kind == FieldType.BOOLEAN:
        return _boolean(value)
    if kind == FieldType.DATE:
        return _date(value)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValidationError("Expected text.")
    text = str(value).strip()
    if len(text) > ATTRIBUTE_MAX_LENGTH:
        raise ValidationError(f"At most {ATTRIBUTE_MAX_LENGTH} characters.")
    if kind == FieldType.CHOICE and text not in (field.choices or []):
        raise ValidationError(f"Expected one of: {', '.join(map(str, field.choices or []))}.")
    return text


def _number(value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValidationError("Expected a number.")
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "")) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            raise ValidationError(f"Expected a number, not {value[:40]!r}.")
    if not isinstance(value, (int, float)) or (isinstance(value, float) and not math.isfinite(value)):
        raise ValidationError("Expected a number.")
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError(f"Expected yes or no, not {str(value)[:40]!r}.")


def _date(value: Any) -> str:
    text = str(value).strip() if isinstance(value, (str, date)) else ""
    if isinstance(value, date):
        return value.isoformat()
    try:
        if not _ISO_DATE.match(text):
            raise ValueError
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValidationError(f"Expected a date as YYYY-MM-DD, not {str(value)[:40]!r}.")


class FieldSpec:
    """What validation needs of a field (a SubscriberField row or a candidate being created)."""

    def __init__(self, *, key: str, type: str, choices: Iterable[str] = ()):
        self.key, self.type, self.choices = key, type, list(choices)


def fields_by_key() -> dict[str, SubscriberField]:
    return {f.key: f for f in SubscriberField.objects.all()}


def attributes_clean(
    values: Mapping[str, Any], *, fields: Mapping[str, SubscriberField] | None = None, prefix: str = "attributes"
) -> dict[str, Any]:
    """Attributes as they will be stored: defined fields typed, undefined keys kept as given
    (a value must be a string, number or boolean). Raises ValidationError with a dict of
    `<prefix>.<key>` -> messages naming every bad value."""
    fields = fields_by_key() if fields is None else fields
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        field = fields.get(key)
        try:
            if field is not None:
                cleaned[key] = field_value_clean(field, value)
            else:
                cleaned[key] = _untyped(key, value)
        except ValidationError as exc:
            errors[f"{prefix}.{key}"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return cleaned


def _untyped(key: str, value: Any) -> Any:
    if not isinstance(key, str) or not key or len(key) > 100:
        raise ValidationError("Attribute names are 1 to 100 characters.")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise ValidationError("Attribute values are text, numbers or booleans.")
    if isinstance(value, str) and len(value) > ATTRIBUTE_MAX_LENGTH:
        raise ValidationError(f"At most {ATTRIBUTE_MAX_LENGTH} characters.")
    return value


def attributes_merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """`changes` applied to `current`; a None value removes the key."""
    merged = {**current, **changes}
    return {k: v for k, v in merged.items() if v is not None}
