"""Branding in admin: one page (logo, colour, names, footer, postal address), saved by the service."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError

from core.admin import ServiceErrorAdminMixin, service_error_text
from core.exceptions import ApplicationError
from publishing.layout_models import Branding
from publishing.services.branding import BRANDING_FIELDS, branding_update


@admin.register(Branding)
class BrandingAdmin(ServiceErrorAdminMixin, admin.ModelAdmin):
    fields = [*BRANDING_FIELDS, "updated_by", "updated_at"]
    readonly_fields = ["updated_by", "updated_at"]
    list_display = ["__str__", "site_name", "sender_name", "primary_colour", "updated_at"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not Branding.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False  # blank fields fall back to the settings; there is nothing to delete

    def save_model(self, request, obj, form, change):
        fields = {name: form.cleaned_data[name] for name in BRANDING_FIELDS if name in form.changed_data or not change}
        if fields.get("logo") is False:  # "Clear" ticked
            fields["logo"] = ""
        try:
            saved = branding_update(actor=request.user, **fields)
        except ApplicationError as exc:
            raise ValidationError(service_error_text(exc)) from exc
        obj.pk, obj._state.adding = saved.pk, False
