"""Forms and services: a service's ApplicationError shown on the form that called it; JSON form
fields within the bounds API bodies have."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.forms.fields import InvalidJSONInput, JSONString

from core.exceptions import ApplicationError
from core.safejson import UnsafeJSONError, json_loads_bounded


def form_add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """The service's field errors next to the form's fields; errors of fields the form does not
    have, and a message that names no field, at the top of the form."""
    fields = exc.extra.get("fields") or {None: [exc.message]}
    for name, messages in fields.items():
        form.add_error(name if name in form.fields else None, messages)


class BoundedJSONFormField(forms.JSONField):
    """Django's form JSONField, parsed by core.safejson like API bodies: nesting deeper than
    API_MAX_JSON_DEPTH, NUL characters (`"\\u0000"`, which the NUL middleware cannot see in
    JSON text) and NaN/Infinity are form errors. Django's own field let the first reach a
    RecursionError and the others a jsonb DataError on save: 500s in the admin. Every admin
    form's JSON fields use it (core.apps), and forms that declare one."""

    def to_python(self, value):
        if self.disabled or value in self.empty_values or isinstance(value, (list, dict, int, float, JSONString)):
            return super().to_python(value)
        try:
            converted = _loads(value)
        except UnsafeJSONError as exc:
            where = f" (at {exc.path})" if exc.path else ""
            raise forms.ValidationError(f"{exc.message}{where}", code="invalid")
        except ValueError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid", params={"value": value})
        return JSONString(converted) if isinstance(converted, str) else converted

    def bound_data(self, data, initial):
        if self.disabled or data is None:
            return super().bound_data(data, initial)
        try:
            return _loads(data)
        except ValueError:  # shown again as typed, next to its error
            return InvalidJSONInput(data)


def _loads(raw: str):
    return json_loads_bounded(raw, max_depth=settings.API_MAX_JSON_DEPTH)
