"""Forms and services: a service's ApplicationError shown on the form that called it."""

from __future__ import annotations

from django import forms

from core.exceptions import ApplicationError


def form_add_service_errors(form: forms.Form, exc: ApplicationError) -> None:
    """The service's field errors next to the form's fields; errors of fields the form does not
    have, and a message that names no field, at the top of the form."""
    fields = exc.extra.get("fields") or {None: [exc.message]}
    for name, messages in fields.items():
        form.add_error(name if name in form.fields else None, messages)
