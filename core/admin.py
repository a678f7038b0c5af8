"""Admin pieces shared by the apps' ModelAdmins."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect


class ServiceErrorAdminMixin:
    """A ModelAdmin whose save_model calls a service raises ValidationError when the service
    refuses; the change form then answers with the reason as a message instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, f"Not saved: {exc.messages[0]}", messages.ERROR)
            return redirect(request.path)
