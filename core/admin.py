"""Admin pieces shared by the apps' ModelAdmins."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.shortcuts import redirect

from core.exceptions import ApplicationError


def service_error_text(exc: ApplicationError) -> str:
    """A service's refusal as one line: its message and each field's errors."""
    fields = exc.extra.get("fields") or {}
    details = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())
    return f"{exc.message} {details}".strip() if details and details not in exc.message else exc.message


class ServiceErrorAdminMixin:
    """A ModelAdmin whose save_model or delete_model calls a service raises ValidationError when
    the service refuses; the change form, the delete page or the delete action then answers
    with the reason as a message instead of a 500."""

    @staticmethod
    def service_call(service, /, **kwargs):
        """Call a service from save_model/delete_model: its refusal becomes the ValidationError
        the views below turn into a message."""
        try:
            return service(**kwargs)
        except ApplicationError as exc:
            raise ValidationError(exc.message) from exc

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, f"Not saved: {exc.messages[0]}", messages.ERROR)
            return redirect(request.path)

    def delete_view(self, request, object_id, extra_context=None):
        try:  # Django's delete view is one transaction: its history entry goes with the refusal
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as exc:  # delete_model's service refused
            self.message_user(request, f"Not deleted: {exc.messages[0]}", messages.ERROR)
            opts = self.model._meta
            return redirect(f"admin:{opts.app_label}_{opts.model_name}_change", object_id)

    def response_action(self, request, queryset):
        try:
            # One transaction: "Delete selected" writes its history entries before it deletes,
            # and a refusal must take those back with the rows it kept.
            with transaction.atomic():
                return super().response_action(request, queryset)
        except ValidationError as exc:  # a service called by the action refused
            self.message_user(request, f"Not done: {exc.messages[0]}", messages.ERROR)
            return redirect(request.get_full_path())
